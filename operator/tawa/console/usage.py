"""The Usage page: the org's gas events (hosting and API), filtered by service, route and days,
with totals, charts and a CSV of the same rows. The wallet filters by org (an org key reads only
its own org's events), service and days; the route is filtered here, so the table, the totals,
the charts and the CSV all come from one list."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from tawa.console import charts
from tawa.console.pages import e, n, page, table, when
from tawa.console.sessions import Session
from tawa.wallet.client import AsyncWalletClient, GasEvent

if TYPE_CHECKING:
    from tawa.console.app import Console

PAGE_SIZE = 50
WALLET_PAGE = 1000  # the wallet's largest page
MOST_EVENTS = 10_000  # beyond this the page asks for a narrower range instead of reading on
MAX_TEXT = 200
TOP_ROUTES = 8
CSV_HEAD = ("time", "kind", "service", "route", "method", "tokens", "request_id", "provider")
RISKY = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet reads a cell starting with these as a formula


class BadFilter(ValueError):
    pass


@dataclass(frozen=True)
class Filters:
    service: str = ""
    route: str = ""
    start: date | None = None
    end: date | None = None
    page: int = 1

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Filters:
        """The query's filters; BadFilter with a message for people when one is not valid."""
        text = {k: params.get(k, "").strip() for k in ("service", "route")}
        if any(len(v) > MAX_TEXT for v in text.values()):
            raise BadFilter(f"Service and route are at most {MAX_TEXT} characters.")
        start, end = day(params.get("from", ""), "From"), day(params.get("to", ""), "To")
        if start and end and start > end:
            raise BadFilter("From must be on or before To.")
        number = params.get("page", "1").strip() or "1"
        if not number.isdigit() or int(number) < 1:
            raise BadFilter("Page must be a whole number, at least 1.")
        return cls(text["service"], text["route"], start, end, int(number))

    def query(self, **change: object) -> str:
        """The URL query (with its ?) of these filters with `change` made."""
        f = replace(self, **change)  # type: ignore[arg-type]
        found = {"service": f.service, "route": f.route, "from": iso(f.start), "to": iso(f.end),
                 "page": f.page if f.page > 1 else None}
        query = urlencode({k: v for k, v in found.items() if v})
        return f"?{query}" if query else ""


def day(value: str, name: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        if len(value) == 10:  # fromisoformat alone would also take 20260131
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise BadFilter(f"{name} must be a date written YYYY-MM-DD, e.g. 2026-01-31.")


def iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


async def matching(client: AsyncWalletClient, org: str, f: Filters) -> tuple[list[GasEvent], bool]:
    """The org's events for the filters, newest first, and whether there were more than MOST_EVENTS."""
    found: list[GasEvent] = []
    cursor: str | None = None
    while True:
        got = await client.gas_events(from_=iso(f.start), to=iso(f.end),
                                      service=f.service or None, org=org, limit=WALLET_PAGE, cursor=cursor)
        found += [x for x in got.events if not f.route or x.route == f.route]
        if got.next_cursor is None or len(found) >= MOST_EVENTS:
            return found[:MOST_EVENTS], len(found) > MOST_EVENTS or got.next_cursor is not None
        cursor = got.next_cursor


# --------------------------------------------------------------------------- summaries


def totals(events: Sequence[GasEvent]) -> dict[str, int]:
    api = [x for x in events if x.kind == "api"]
    return {"tokens": sum(x.tokens for x in events), "calls": len(api), "api-tokens": sum(x.tokens for x in api),
            "hosting-tokens": sum(x.tokens for x in events if x.kind == "hosting"),
            "hosting-charges": sum(1 for x in events if x.kind == "hosting")}


def per_day(events: Sequence[GasEvent]) -> list[tuple[str, dict[str, int]]]:
    days: dict[str, Counter[str]] = defaultdict(Counter)
    for x in events:
        days[x.time.date().isoformat() if x.time else "unknown"][x.service or ""] += x.tokens
    return [(k, dict(days[k])) for k in sorted(days)]


def top_routes(events: Sequence[GasEvent]) -> list[tuple[str, int]]:
    tokens: Counter[str] = Counter()
    for x in events:
        if x.kind == "api":
            tokens[f"{x.method or ''} {x.route or '—'}".strip()] += x.tokens
    return tokens.most_common(TOP_ROUTES)


# --------------------------------------------------------------------------- HTML and CSV


def filter_form(params: Mapping[str, str]) -> str:
    def field(name: str, label: str, kind: str = "text", hint: str = "") -> str:
        return (f'<div><label for="{name}">{label}</label><input id="{name}" name="{name}" type="{kind}" '
                f'value="{e(params.get(name, ""))}" maxlength="{MAX_TEXT}" placeholder="{hint}"></div>')

    return ('<form method="get" action="/usage" class="card filters">'
            + field("service", "Service", hint="acme/quoting") + field("route", "Route", hint="/v1/quote")
            + field("from", "From (UTC day)", "date") + field("to", "To (UTC day)", "date")
            + '<button type="submit">Filter</button><a class="button plain" href="/usage">Clear</a></form>')


def usage_page(session: Session, params: Mapping[str, str], f: Filters, events: Sequence[GasEvent],
               more: bool) -> str:
    t = totals(events)
    cards = "".join(f'<div class="stat" id="total-{k}"><span>{label}</span><strong>{n(t[k])}</strong></div>'
                    for k, label in (("tokens", "Tokens"), ("calls", "API calls"), ("api-tokens", "API tokens"),
                                     ("hosting-tokens", "Hosting tokens"), ("hosting-charges", "Hosting charges")))
    cut = (f'<p class="hint" role="status">Only the newest {n(MOST_EVENTS)} events are counted: narrow the days '
           "to see the rest.</p>") if more else ""
    shown = events[(f.page - 1) * PAGE_SIZE: f.page * PAGE_SIZE]
    pager = "".join(f'<a class="button" href="/usage{e(f.query(page=p))}">{label}</a>' for p, label in
                    ((f.page - 1, "Newer"), (f.page + 1, "Older"))
                    if 1 <= p and (p - 1) * PAGE_SIZE < len(events))
    body = (filter_form(params) + cut + f'<section class="stats">{cards}</section>'
            + '<section class="charts">'
            + charts.stacked("Tokens per day, by service", per_day(events))
            + charts.bars("Hosting and API tokens", [("API", t["api-tokens"]), ("Hosting", t["hosting-tokens"])])
            + charts.bars("Top routes by API tokens", top_routes(events)) + "</section>"
            + f'<h2>Events</h2><p><a class="button" id="csv" href="/usage.csv{e(f.query(page=1))}">'
            "Download CSV</a></p>"
            + table(("Time", "Kind", "Service", "Route", "Tokens"), (row(x) for x in shown),
                    "No usage yet for these filters.") + f'<p class="pager">{pager}</p>')
    return page("Usage", body, session)


def row(x: GasEvent) -> list[str]:
    return [e(when(x.time)), e(x.kind), e(x.service or "—"), e(f"{x.method or ''} {x.route or '—'}".strip()),
            n(x.tokens)]


def safe(cell: object) -> object:
    """A text cell a spreadsheet would run as a formula is quoted with a leading '."""
    return f"'{cell}" if isinstance(cell, str) and cell.startswith(RISKY) else cell


def as_csv(events: Sequence[GasEvent]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEAD)
    for x in events:
        writer.writerow([safe(c) for c in (x.time.isoformat() if x.time else "", x.kind, x.service or "",
                                           x.route or "", x.method or "", x.tokens, x.request_id or "",
                                           x.provider or "")])
    return out.getvalue()


# --------------------------------------------------------------------------- routes


def routes(console: Console) -> list[Route]:
    async def read(request: Request, session: Session, export: bool) -> Response:
        params = dict(request.query_params)
        try:
            f = Filters.parse(params)
        except BadFilter as exc:
            return HTMLResponse(page("Usage", filter_form(params), session, str(exc)), 400)
        async with console.client(session) as c:
            events, more = await matching(c, session.org, f)
        if export:
            return Response(as_csv(events), media_type="text/csv; charset=utf-8", headers={
                "Content-Disposition": f'attachment; filename="usage-{session.org}.csv"'})
        return HTMLResponse(usage_page(session, params, f, events, more))

    async def html(request: Request, session: Session) -> Response:
        return await read(request, session, export=False)

    async def export(request: Request, session: Session) -> Response:
        return await read(request, session, export=True)

    return [Route("/usage", console.viewing(html), methods=["GET"]),
            Route("/usage.csv", console.viewing(export), methods=["GET"])]
