"""`tawa gas` and `tawa gas events`: what the wallet recorded — API calls and hosting hours."""

from __future__ import annotations

import csv
import sys
from typing import Any

import click

from tawa.cli.output import EXIT_REFUSED, fail, json_option, print_json, print_table, tokens

EVENT_COLUMNS = ("time", "kind", "org", "service", "route", "method", "tokens", "provider", "requestId")


def _client() -> Any:
    from tawa.wallet.client import WalletClient

    return WalletClient()


def _rows(events: list[Any]) -> list[dict[str, Any]]:
    return [{"time": e.time.isoformat() if e.time else None, "kind": e.kind, "org": e.org, "service": e.service,
             "route": e.route or e.details.get("hour"), "method": e.method, "tokens": e.tokens,
             "provider": e.provider, "requestId": e.request_id} for e in events]


def _show_events(rows: list[dict[str, Any]], as_json: bool, as_csv: bool) -> None:
    if as_json:
        print_json(rows)
    elif as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=EVENT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    elif not rows:
        click.echo("no gas events")
    else:
        print_table(("TIME (UTC)", "KIND", "ORG", "SERVICE", "CALL / HOUR", "TOKENS"),
                    [(_clock(r["time"]), r["kind"], r["org"], r["service"], _call_or_hour(r), tokens(r["tokens"]))
                     for r in rows])


def _clock(iso: str | None, seconds: bool = True) -> str:
    """`2026-12-06T02:00:05.123+00:00` → `2026-12-06 02:00:05` (UTC, as the wallet records it);
    without `seconds`, `:00` seconds are dropped (a hosting hour: `2026-12-06 02:00`)."""
    if not iso:
        return ""
    clock = iso[:19].replace("T", " ")
    return clock if seconds or not clock.endswith(":00") else clock[:16]


def _call_or_hour(row: dict[str, Any]) -> str:
    """`POST /documents` for an API call, the hour it paid for a hosting charge: one column,
    so a row fits an 80-column terminal."""
    if row["kind"] == "hosting":
        return _clock(row["route"], seconds=False)
    return " ".join(part for part in (row["method"], row["route"]) if part)


def _fetch(**query: Any) -> list[dict[str, Any]]:
    from tawa.wallet.client import WalletError

    try:
        with _client() as client:
            return _rows(client.gas_events(**query).events)
    except WalletError as exc:
        fail(f"the wallet could not list gas events: {exc}", EXIT_REFUSED)


@click.command(name="recent")
@click.option("--org", help="Only this org's events.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@json_option
def show_recent(org: str | None = None, limit: int = 20, as_json: bool = False) -> None:
    """Recent gas events."""
    _show_events(_fetch(org=org, limit=limit), as_json, False)


@click.command(name="events")
@click.option("--stats", is_flag=True, help="Totals: tokens spent, by day (or --by service).")
@click.option("--by", type=click.Choice(["day", "service"]), default="day", show_default=True)
@click.option("--from", "from_", type=click.DateTime(["%Y-%m-%d"]), help="First day (UTC), YYYY-MM-DD.")
@click.option("--to", type=click.DateTime(["%Y-%m-%d"]), help="Last day (UTC), YYYY-MM-DD.")
@click.option("--service", help="Only calls to (or hosting of) this service.")
@click.option("--org", help="Only this org's events.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--csv", "as_csv", is_flag=True, help="CSV for spreadsheets.")
@json_option
def events(stats: bool, by: str, from_: Any, to: Any, service: str | None, org: str | None, limit: int,
           as_csv: bool, as_json: bool) -> None:
    """Gas events, filtered by date range and service; --stats for totals."""
    days = {"from_": _day(from_), "to": _day(to), "service": service, "org": org}
    if not stats:
        _show_events(_fetch(limit=limit, **days), as_json, as_csv)
        return
    from tawa.wallet.client import WalletError

    try:
        with _client() as client:
            result = client.gas_stats(by=by, **days)
    except WalletError as exc:
        fail(f"the wallet could not compute gas stats: {exc}", EXIT_REFUSED)
    groups = [{"key": g.key, "tokens": g.tokens, "events": g.events, "apiTokens": g.api_tokens,
               "hostingTokens": g.hosting_tokens} for g in result.groups]
    if as_json:
        print_json({"by": by, "groups": groups, "total": {"tokens": result.tokens, "events": result.events}})
    elif as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=("key", "tokens", "events", "apiTokens", "hostingTokens"))
        writer.writeheader()
        writer.writerows(groups)
    else:
        print_table((by.upper(), "TOKENS", "EVENTS", "API", "HOSTING"),
                    [(g["key"], tokens(g["tokens"]), g["events"], tokens(g["apiTokens"]), tokens(g["hostingTokens"]))
                     for g in groups])
        click.echo(f"total spent: {tokens(result.tokens)} tokens (${result.tokens / 100:,.2f}) "
                   f"in {result.events} events")


def _day(value: Any) -> str | None:
    return value.date().isoformat() if value is not None else None
