"""Who pays: X-Bill-Org (granted) > programId > serviceId."""

from __future__ import annotations

from tawa.janus.billing import Payer, choose_payer, needs_grants
from tawa.janus.model import Caller
from tawa.names import Grant
from tawa.refusal import Refusal

QUOTER = Caller(program_id="acme", service_id="quoter", via="jwt")


def test_program_id_pays_by_default() -> None:
    assert choose_payer(QUOTER, None) == Payer("acme", "program")


def test_service_id_pays_without_program_id() -> None:
    assert choose_payer(Caller(None, "quoter", "jwt"), None) == Payer("quoter", "service")


def test_bill_org_with_grant_pays() -> None:
    assert choose_payer(QUOTER, "bigcorp", {Grant("acme", "quoter")}) == Payer("bigcorp", "bill-org")


def test_a_grant_names_the_callers_org_not_just_its_service_name() -> None:
    """Finding 2: a token saying serviceId quoter with another programId is not acme's quoter."""
    impostor = Caller(program_id="attacker", service_id="quoter", via="jwt")
    result = choose_payer(impostor, "bigcorp", {Grant("acme", "quoter")})
    assert isinstance(result, Refusal) and result.status == 403
    assert result.body()["error"] == "BILL_ORG_NOT_GRANTED"


def test_a_service_id_that_is_a_wallet_id_cannot_pay() -> None:
    result = choose_payer(Caller(None, "wallet-victim", "jwt"), None)
    assert isinstance(result, Refusal) and result.status == 403


def test_bill_org_without_grant_is_forbidden() -> None:
    result = choose_payer(QUOTER, "bigcorp", {Grant("acme", "someone-else")})
    assert isinstance(result, Refusal) and result.status == 403
    assert result.body()["error"] == "BILL_ORG_NOT_GRANTED" and result.body()["org"] == "bigcorp"


def test_bill_org_needs_a_service_identity() -> None:
    assert isinstance(choose_payer(None, "bigcorp", {Grant("acme", "quoter")}), Refusal)
    assert isinstance(choose_payer(Caller("acme", None, "jwt"), "bigcorp", {Grant("acme", "quoter")}), Refusal)


def test_billing_ones_own_org_needs_no_grant() -> None:
    assert not needs_grants(QUOTER, "acme")
    assert needs_grants(QUOTER, "bigcorp")
    assert choose_payer(QUOTER, "acme") == Payer("acme", "program")


def test_nobody_to_charge_is_unauthorised() -> None:
    result = choose_payer(None, None)
    assert isinstance(result, Refusal) and result.status == 401
