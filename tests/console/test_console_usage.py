"""The Usage page over real sockets: a real console in front of a real wallet, gas events made by
Janus (holds settled) and the operator (hosting charges), read back through an org's key."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tawa.wallet.client import WalletClient
from tests.console.conftest import Org, Visitor, World

TODAY = datetime.now(UTC).date()
CALLS = (("quoting", "/v1/quote", 30), ("quoting", "/v1/quote", 20), ("quoting", "/v1/price", 5),
         ("docman", "=HYPERLINK(1)", 7))
HOSTING = (("quoting", 100), ("docman", 40))


def spend(world: World, payer: Org, provider: str) -> None:
    janus = WalletClient(world.wallet.url, world.wallet.janus_token)
    operator = WalletClient(world.wallet.url, world.wallet.operator_token)
    for service, route, tokens in CALLS:
        hold = janus.hold(payer.name, tokens)
        janus.settle(hold.id, provider, tokens, service=service, route=route, method="POST",
                     request_id=uuid.uuid4().hex)
    for i, (service, tokens) in enumerate(HOSTING):
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=i + 1)
        operator.hosting_charge(payer.name, f"{service}-web", hour, tokens, service=service)


@pytest.fixture(scope="module")
def spent(world: World) -> Iterator[World]:
    provider = f"prov-{uuid.uuid4().hex[:6]}"
    world.wallet.client.create_wallet(provider)
    spend(world, world.a, provider)
    yield world


def visit(world: World, key: str) -> Visitor:
    v = Visitor(world.console.url)
    assert v.login(key).status_code == 303
    return v


def total(html: str, name: str) -> int:
    found = re.search(rf'id="total-{name}"><span>[^<]*</span><strong>([\d,]+)</strong>', html)
    assert found, name
    return int(found.group(1).replace(",", ""))


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_page_shows_every_event_of_the_org_with_totals_and_charts(spent: World) -> None:
    with visit(spent, spent.a.viewer) as v:
        r = v.get("/usage")
    assert r.status_code == 200
    assert total(r.text, "tokens") == 30 + 20 + 5 + 7 + 100 + 40
    assert total(r.text, "calls") == 4 and total(r.text, "hosting-charges") == 2
    assert total(r.text, "api-tokens") == 62 and total(r.text, "hosting-tokens") == 140
    assert r.text.count("<svg role=\"img\"") == 3 and "Top routes by API tokens" in r.text
    assert '<a href="/usage">Usage</a>' in r.text  # the nav


@pytest.mark.parametrize(("query", "tokens", "calls"), [
    ("service=quoting", 30 + 20 + 5 + 100, 3),
    ("service=quoting&route=/v1/quote", 50, 2),
    ("route=/v1/price", 5, 1),
    (f"from={TODAY}&to={TODAY}", 202, 4),
    (f"from={TODAY + timedelta(days=1)}", 0, 0),
    (f"to={TODAY - timedelta(days=1)}", 0, 0),
])
def test_filters_narrow_the_rows_the_totals_and_the_csv(spent: World, query: str, tokens: int, calls: int) -> None:
    with visit(spent, spent.a.owner) as v:
        page, exported = v.get(f"/usage?{query}"), v.get(f"/usage.csv?{query}")
    assert page.status_code == 200 and total(page.text, "tokens") == tokens and total(page.text, "calls") == calls
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert exported.headers["content-disposition"] == f'attachment; filename="usage-{spent.a.name}.csv"'
    found = rows(exported.text)
    assert sum(int(x["tokens"]) for x in found) == tokens
    assert sum(1 for x in found if x["kind"] == "api") == calls
    assert page.text.count("<tr><td") - page.text.count("<tr><td>") == len(found)  # table rows, not fallbacks
    if not found:
        assert "No usage yet for these filters." in page.text


def test_the_csv_quotes_cells_a_spreadsheet_would_run(spent: World) -> None:
    with visit(spent, spent.a.owner) as v:
        found = rows(v.get("/usage.csv?service=docman").text)
    assert [x["route"] for x in found if x["kind"] == "api"] == ["'=HYPERLINK(1)"]


def test_org_b_never_sees_org_a_events(spent: World) -> None:
    with visit(spent, spent.b.owner) as v:
        page, exported = v.get("/usage"), v.get("/usage.csv")
        asked_for_a = v.get(f"/usage?service=quoting&org={spent.a.name}")
    assert total(page.text, "tokens") == 0 and "No usage yet" in page.text
    assert rows(exported.text) == []
    assert total(asked_for_a.text, "tokens") == 0 and spent.a.name not in asked_for_a.text


@pytest.mark.parametrize(("query", "message"), [
    ("from=yesterday", "From must be a date written YYYY-MM-DD"),
    ("to=2026-02-30", "To must be a date written YYYY-MM-DD"),
    ("from=2026-03-02&to=2026-03-01", "From must be on or before To."),
    ("page=0", "Page must be a whole number"),
    ("service=" + "x" * 201, "at most 200 characters"),
])
def test_a_bad_filter_is_a_readable_400_page(spent: World, query: str, message: str) -> None:
    with visit(spent, spent.a.owner) as v:
        page, exported = v.get(f"/usage?{query}"), v.get(f"/usage.csv?{query}")
    for r in (page, exported):
        assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
        assert message in r.text and 'role="alert"' in r.text and 'action="/usage"' in r.text


def test_usage_needs_a_session(world: World) -> None:
    with Visitor(world.console.url) as v:
        for path in ("/usage", "/usage.csv"):
            r = v.get(path)
            assert r.status_code == 303 and r.headers["location"] == "/login"


def test_events_are_paged_and_totals_and_csv_cover_every_page(world: World) -> None:
    org = f"paged-{uuid.uuid4().hex[:6]}"
    c = world.wallet.client
    c.create_wallet(org)
    c.purchase(org, 1000)
    key = c.create_key(org, "viewer", "ci").key
    janus = WalletClient(world.wallet.url, world.wallet.janus_token)
    for _ in range(55):
        janus.settle(janus.hold(org, 1).id, world.a.name, 1, service="s", route="/r", method="GET",
                     request_id=uuid.uuid4().hex)
    with visit(world, key) as v:
        first, second, exported = v.get("/usage"), v.get("/usage?page=2"), v.get("/usage.csv?page=2")
    table_rows = [p.text.count("<tr><td data-label") for p in (first, second)]
    assert table_rows == [50, 5]
    assert 'href="/usage?page=2">Older' in first.text and 'href="/usage">Newer' in second.text
    assert total(first.text, "calls") == total(second.text, "calls") == 55 == len(rows(exported.text))
