"""Service-account credentials of the wallet (TAWA_WALLET_SERVICE_ACCOUNTS), and the client's token file."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from tawa.kube import tokenreview
from tawa.wallet.accounts import AUDIENCE, ReviewUnavailable, ServiceAccounts, parse_service_accounts
from tawa.wallet.client import WalletAuthError
from tawa.wallet.client._calls import Credential
from tawa.wallet.policy import Identity, Role
from tawa.wallet.settings import ServerSettings

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"  # the shape of a projected token


def test_the_setting_maps_accounts_to_the_operator_and_janus_roles() -> None:
    assert parse_service_accounts(" tawa-system/tawa-operator=operator, janus-prod/tawa-janus=janus ,") == {
        "system:serviceaccount:tawa-system:tawa-operator": Role.OPERATOR,
        "system:serviceaccount:janus-prod:tawa-janus": Role.JANUS}
    assert parse_service_accounts("") == {}


@pytest.mark.parametrize("raw", ["tawa-system/root=admin", "tawa-system/x=owner", "tawa-operator=operator",
                                 "tawa-system/tawa-operator", "Bad_NS/sa=janus", "ns/sa:x=janus"])
def test_anything_else_is_refused_naming_the_setting(raw: str) -> None:
    with pytest.raises(ValueError, match="TAWA_WALLET_SERVICE_ACCOUNTS"):
        parse_service_accounts(raw)


def test_the_server_reads_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAWA_WALLET_TOKEN", "admin")
    monkeypatch.setenv("TAWA_WALLET_SERVICE_ACCOUNTS", "ns/op=operator")
    assert ServerSettings.from_env().service_accounts == {"system:serviceaccount:ns:op": Role.OPERATOR}
    monkeypatch.setenv("TAWA_WALLET_SERVICE_ACCOUNTS", "ns/op=admin")
    with pytest.raises(ValueError, match="TAWA_WALLET_SERVICE_ACCOUNTS"):
        ServerSettings.from_env()


class FakeReview:
    def __init__(self, status: dict[str, Any] | Exception) -> None:
        self.status, self.calls = status, []  # type: list[tuple[str, str, float | None]]

    def __call__(self, api: object, token: str, audience: str, timeout: float | None = None) -> dict[str, Any]:
        self.calls.append((token, audience, timeout))
        if isinstance(self.status, Exception):
            raise self.status
        return self.status


def accounts(monkeypatch: pytest.MonkeyPatch, status: dict[str, Any] | Exception) -> tuple[ServiceAccounts, FakeReview]:
    fake = FakeReview(status)
    monkeypatch.setattr(tokenreview, "review", fake)
    return ServiceAccounts(parse_service_accounts("ns/op=operator,ns/janus=janus"), api=object()), fake  # type: ignore[arg-type]


def reviewed(username: str, audiences: list[str] | None = None) -> dict[str, Any]:
    return {"authenticated": True, "audiences": [AUDIENCE] if audiences is None else audiences,
            "user": {"username": username}}


def test_a_reviewed_token_is_its_accounts_role_and_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    sa, fake = accounts(monkeypatch, reviewed("system:serviceaccount:ns:op"))

    async def twice() -> list[Identity | None]:
        return [await sa.identify(JWT), await sa.identify(JWT)]

    assert asyncio.run(twice()) == [Identity(Role.OPERATOR)] * 2
    assert len(fake.calls) == 1 and fake.calls[0][1:] == (AUDIENCE, 5.0)  # asked once, for tawa-wallet, bounded
    assert Identity(Role.OPERATOR).actor == "operator"


@pytest.mark.parametrize("status", [
    {"authenticated": False},
    reviewed("system:serviceaccount:ns:op", audiences=["janus"]),
    reviewed("system:serviceaccount:ns:stranger"),
    reviewed("alice"),
])
def test_unauthenticated_other_audiences_and_unmapped_accounts_are_nobody(
        monkeypatch: pytest.MonkeyPatch, status: dict[str, Any]) -> None:
    sa, _ = accounts(monkeypatch, status)
    assert asyncio.run(sa.identify(JWT)) is None


def test_strings_that_are_no_jwt_are_not_sent_for_review(monkeypatch: pytest.MonkeyPatch) -> None:
    sa, fake = accounts(monkeypatch, reviewed("system:serviceaccount:ns:op"))
    assert asyncio.run(sa.identify("some-static-token")) is None and not fake.calls


def test_an_api_server_that_cannot_be_asked_is_unavailable_and_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    sa, fake = accounts(monkeypatch, OSError("connection refused"))
    for _ in range(2):
        with pytest.raises(ReviewUnavailable):
            asyncio.run(sa.identify(JWT))
    assert len(fake.calls) == 2


def test_the_credential_file_is_reread_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("first\n")
    credential = Credential(token="ignored", token_file=path)
    assert credential.current() == "first"
    path.write_text("second")
    os.utime(path, ns=(1, 1))  # a new mtime, as the kubelet's atomic swap gives
    assert credential.current() == "second"
    path.unlink()
    assert credential.current() == "second"  # a failed read keeps the last token


def test_the_credential_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TAWA_WALLET_TOKEN", "static")
    assert Credential().current() == "static"
    (tmp_path / "token").write_text("projected")
    monkeypatch.setenv("TAWA_WALLET_TOKEN_FILE", str(tmp_path / "token"))
    assert Credential().current() == "projected"
    assert Credential("given").current() == "given"  # a token given outright wins over the environment
    with pytest.raises(WalletAuthError, match="TAWA_WALLET_TOKEN_FILE"):
        Credential(token_file=tmp_path / "absent").current()
