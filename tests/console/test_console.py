"""The Developer Console over real sockets: a real console process in front of a real wallet,
driven with httpx as a browser would be (cookies, forms, CSRF tokens read from the pages)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.console.conftest import ConsoleServer, Visitor, World, start_console

IDEM = re.compile(r'name="idempotency_key" value="([^"]+)"')


def balance(world: World, org: str) -> int:
    return world.wallet.client.get_wallet(org).balances.purchased


def logged_in(world: World, key: str) -> Visitor:
    v = Visitor(world.console.url)
    assert v.login(key).status_code == 303
    return v


def test_login_shows_the_orgs_wallet_and_logout_ends_the_session(world: World) -> None:
    with Visitor(world.console.url) as v:
        assert v.get("/wallet").headers["location"] == "/login"
        r = v.login(world.a.owner)
        assert r.status_code == 303 and r.headers["location"] == "/wallet"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        page = v.get("/wallet")
        assert page.status_code == 200 and world.a.name in page.text and "12,345" in page.text
        assert world.a.owner not in page.text and world.a.owner.split("_")[2] not in page.text
        assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none': no script at all
        assert "default-src 'none'" in page.headers["content-security-policy"]
        stolen = dict(v.http.cookies)
        assert v.post("/logout", {"csrf": v.csrf()}).headers["location"] == "/login"
        assert v.get("/wallet").headers["location"] == "/login"
    with httpx.Client(base_url=world.console.url, cookies=stolen) as replay:  # the old cookie is dead
        assert replay.get("/wallet").headers["location"] == "/login"


def test_a_wrong_key_or_a_program_credential_does_not_log_in(world: World) -> None:
    with Visitor(world.console.url) as v:
        for key in ("twk_0123456789abcdef_guess", "nonsense", world.wallet.janus_token):
            r = v.login(key)
            assert r.status_code == 401 and "not a valid org key" in r.text and key not in r.text
        assert v.get("/wallet").headers["location"] == "/login"
        assert v.post("/login", {"key": world.a.owner}).status_code == 403  # no CSRF token: refused


@pytest.mark.parametrize("csrf", [None, "forged"])
def test_a_post_without_its_csrf_token_is_refused_and_changes_nothing(world: World, csrf: str | None) -> None:
    before = balance(world, world.a.name)
    keys_before = len(world.wallet.client.list_keys(world.a.name))
    with logged_in(world, world.a.owner) as v:
        idem = IDEM.search(v.get("/wallet").text).group(1)  # type: ignore[union-attr]
        extra = {} if csrf is None else {"csrf": csrf}
        for path, data in (("/wallet/purchases", {"tokens": "10000", "idempotency_key": idem}),
                           ("/keys", {"name": "evil", "role": "owner"}), ("/grants", {"grant": "evil/svc"}),
                           ("/logout", {})):
            r = v.post(path, {**data, **extra})
            assert r.status_code == 403 and "nothing was changed" in r.text, path
        assert v.get("/wallet").status_code == 200  # still logged in: the forged logout did nothing
    assert balance(world, world.a.name) == before
    assert len(world.wallet.client.list_keys(world.a.name)) == keys_before
    assert world.wallet.client.get_bill_grants(world.a.name).grants == ()


def test_org_b_never_sees_org_a(world: World) -> None:
    with logged_in(world, world.b.viewer) as v:
        page = v.get("/wallet").text
        assert world.b.name in page and "67,890" in page
        assert world.a.name not in page and "12,345" not in page
        assert v.get(f"/wallet?org={world.a.name}").text.count(world.a.name) == 0  # no input names the org


def test_a_viewer_cannot_buy_grant_or_manage_keys(world: World) -> None:
    before = balance(world, world.a.name)
    with logged_in(world, world.a.viewer) as v:
        page = v.get("/wallet").text
        assert 'id="buy-reason"' in page and "Only an owner key may buy tokens" in page
        assert page.count("disabled") >= 5
        idem = IDEM.search(page).group(1)  # type: ignore[union-attr]
        r = v.post("/wallet/purchases", {"tokens": "10000", "idempotency_key": idem, "csrf": v.csrf()})
        assert r.status_code == 403 and "may not buy tokens" in r.text  # the wallet's own refusal, readable
        assert v.post("/grants", {"grant": "evil/svc", "csrf": v.csrf()}).status_code == 403
        assert v.post("/keys", {"name": "x", "role": "owner", "csrf": v.csrf()}).status_code == 403
        assert v.get("/keys").status_code == 403
    assert balance(world, world.a.name) == before
    assert world.wallet.client.get_bill_grants(world.a.name).grants == ()


def test_the_same_form_posted_twice_buys_once(world: World) -> None:
    before = balance(world, world.a.name)
    with logged_in(world, world.a.owner) as v:
        page = v.get("/wallet").text
        form = {"tokens": "25,000", "idempotency_key": IDEM.search(page).group(1),  # type: ignore[union-attr]
                "csrf": v.csrf()}
        for _ in range(2):  # a double click, or a refresh that posts again
            assert v.post("/wallet/purchases", form).headers["location"] == "/wallet"
        assert balance(world, world.a.name) == before + 25_000
        assert v.get("/wallet").text.count(">25,000<") == 1  # one ledger entry of 25,000
        bad = v.post("/wallet/purchases", {"tokens": "-5", "idempotency_key": "x", "csrf": v.csrf()})
        assert bad.status_code == 400 and "whole number" in bad.text
    assert balance(world, world.a.name) == before + 25_000


def test_keys_are_created_shown_once_and_revoking_one_ends_its_sessions(world: World) -> None:
    with logged_in(world, world.a.owner) as owner:
        created = owner.post("/keys", {"name": "dash", "role": "viewer", "csrf": owner.csrf("/keys")})
        assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
        secret = re.search(r'id="new-key">([^<]+)<', created.text).group(1)  # type: ignore[union-attr]
        listing = owner.get("/keys").text
        assert "dash" in listing and secret not in listing
        with logged_in(world, secret) as holder:
            assert holder.get("/wallet").status_code == 200
            key_id = secret.split("_")[1]
            assert owner.post(f"/keys/{key_id}/revoke", {"csrf": owner.csrf("/keys")}).status_code == 303
            assert holder.get("/wallet").headers["location"] == "/login"
            assert holder.login(secret).status_code == 401


def test_grants_are_added_and_removed(world: World) -> None:
    with logged_in(world, world.b.owner) as v:
        assert v.post("/grants", {"grant": "acme/quoting", "csrf": v.csrf("/grants")}).status_code == 303
        assert "acme/quoting" in v.get("/grants").text
        bad = v.post("/grants", {"grant": "not a grant", "csrf": v.csrf("/grants")})
        assert bad.status_code == 400 and "ORG/SERVICE" in bad.text
        assert v.post("/grants/remove", {"grant": "acme/quoting", "csrf": v.csrf("/grants")}).status_code == 303
    assert world.wallet.client.get_bill_grants(world.b.name).grants == ()


def test_failed_logins_are_slowed_per_source(world: World, tmp_path: Path) -> None:
    console: ConsoleServer = start_console(tmp_path, world.wallet.url, {"TAWA_CONSOLE_LOGIN_FAILURE_LIMIT": "2"})
    try:
        with Visitor(console.url) as v:
            assert [v.login("twk_00_guess").status_code for _ in range(3)] == [401, 401, 429]
            assert v.login(world.a.owner).status_code == 429  # even the right key, until the window ends
    finally:
        console.stop()
