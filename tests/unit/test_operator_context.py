"""The operator's state travels in kopf's memo, which kopf copies for every object."""

from __future__ import annotations

import copy

import kopf
import pytest

from tawa.controller.context import OperatorContext, context_of, memo_for
from tawa.controller.settings import OperatorSettings


def test_every_objects_copy_of_the_memo_shares_the_one_context() -> None:
    context = OperatorContext.from_settings(OperatorSettings(), ("team-a", "team-b"))
    memo = memo_for(context)
    per_object = copy.copy(memo)  # what kopf does on an object's first event
    assert context_of(per_object) is context and context_of(memo).namespaces == ("team-a", "team-b")
    context.wallet.close()


def test_without_a_context_the_operator_stops_instead_of_retrying() -> None:
    with pytest.raises(kopf.PermanentError, match="tawa operator run"):
        context_of(kopf.Memo())


def test_a_deleted_components_lock_and_checked_balance_are_forgotten() -> None:
    context = OperatorContext.from_settings(OperatorSettings())
    key = ("team-a", "docman")
    lock = context.locks.of(key)
    assert context.locks.of(key) is lock  # one lock per Component
    context.gate.checked_balance[key] = 100
    context.forget(key)
    assert context.locks.of(key) is not lock and key not in context.gate.checked_balance
    context.wallet.close()
