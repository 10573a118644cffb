"""One canonical form for the names that decide whose money moves (finding 3 of the money-path review)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tawa import names
from tawa.names import Grant, InvalidName


def test_an_org_maps_to_its_wallet_and_back() -> None:
    assert names.wallet_id("acme") == "wallet-acme"
    assert names.org_of_wallet("wallet-acme") == "acme"


@pytest.mark.parametrize("value", ["wallet-victim", "Acme", "acme_", "-acme", "acme?a=1", "x/../admin", "",
                                   "a" * 64, "victim%2f..%2f", "acme\n"])
def test_what_is_not_an_org_slug_is_refused_not_passed_through(value: str) -> None:
    """`wallet_id("wallet-victim")` used to return it unchanged: org victim's wallet."""
    with pytest.raises(InvalidName) as refused:
        names.wallet_id(value)
    assert refused.value.field == "org"
    assert not value or value not in str(refused.value)  # the message never echoes the input


def test_a_wallet_id_must_be_the_prefix_and_an_org() -> None:
    for value in ("acme", "wallet-", "wallet-wallet-x", "wallet-Acme", "wallet-a/b"):
        with pytest.raises(InvalidName):
            names.org_of_wallet(value)


@given(st.text(max_size=80))
def test_wallet_ids_are_canonical(value: str) -> None:
    """Whatever the input, a wallet id is only ever `wallet-` + an org slug, and it round-trips."""
    try:
        wallet = names.wallet_id(value)
    except InvalidName:
        assert not names.is_org(value)
        return
    assert names.org_of_wallet(wallet) == value and names.is_wallet_id(wallet)


def test_a_grant_is_org_slash_service() -> None:
    assert Grant.parse("acme/quoting") == Grant("acme", "quoting")
    assert str(Grant("acme", "quoting")) == "acme/quoting"
    for bad in ("quoting", "acme/", "/quoting", "wallet-acme/quoting", "acme/Quoting", "acme/q/x"):
        with pytest.raises(InvalidName):
            Grant.parse(bad)
