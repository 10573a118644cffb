"""The gate watcher's state in the operator's context: closed gates by org, and the
backoff while an org's wallet cannot be reached."""

from __future__ import annotations

import asyncio

from tawa.controller import gate
from tawa.controller.context import Backoff, Closed, OperatorContext
from tawa.controller.gatewatch import closed_by_org, recheck_org
from tawa.controller.settings import OperatorSettings
from tawa.wallet.client import WalletClient
from tests.fixtures.ports import free_port


def unreachable_wallet_context() -> OperatorContext:
    settings = OperatorSettings(gate_retry_max=60.0)
    return OperatorContext(settings, WalletClient(f"http://127.0.0.1:{free_port()}", "t", timeout=1.0))


def test_closed_gates_are_grouped_by_org_and_a_backoff_without_one_is_dropped() -> None:
    context = unreachable_wallet_context()
    context.gate.closed[("a", "x")] = Closed("acme", "InsufficientReserve")
    context.gate.closed[("b", "y")] = Closed("acme", "WalletNotFound")
    context.gate.closed[("c", "z")] = Closed("beta", "InsufficientReserve")
    context.gate.backoff["gone"] = Backoff(3, 100.0)
    assert closed_by_org(context) == {"acme": [("a", "x"), ("b", "y")], "beta": [("c", "z")]}
    assert "gone" not in context.gate.backoff
    context.wallet.close()


def test_an_unreachable_wallet_backs_the_org_off_exponentially() -> None:
    context = unreachable_wallet_context()
    context.gate.closed[("a", "x")] = Closed("acme", "WalletUnavailable")
    asyncio.run(recheck_org(context, "acme", [("a", "x")], now=1000.0))
    assert context.gate.backoff["acme"] == Backoff(1, 1000.0 + gate.retry_delay(1, 60.0))
    asyncio.run(recheck_org(context, "acme", [("a", "x")], now=1001.0))  # still backing off: no call
    assert context.gate.backoff["acme"].failures == 1
    asyncio.run(recheck_org(context, "acme", [("a", "x")], now=1010.0))
    assert context.gate.backoff["acme"] == Backoff(2, 1010.0 + gate.retry_delay(2, 60.0))
    context.wallet.close()
