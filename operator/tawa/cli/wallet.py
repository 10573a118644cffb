"""`tawa wallet`: run the wallet service, and look at or top up an org's wallet.

Client commands read `--wallet-url` / TAWA_WALLET_URL (default http://127.0.0.1:8081)
and TAWA_WALLET_TOKEN (or the file TAWA_WALLET_TOKEN_FILE names). Exit codes: 0 ok, 1 refused (e.g. 402, unknown wallet,
wallet unreachable), 2 bad input.
"""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import click

from tawa import names
from tawa.cli.output import EXIT_BAD_INPUT, EXIT_REFUSED, fail, json_option, print_json, print_table, tokens
from tawa.defaults import MAX_TOKENS, WALLET_PORT, WALLET_URL
from tawa.settings import SharedSettings

T = TypeVar("T")
PRESETS = (10_000, 25_000, 50_000, 100_000)
NEGATIVE_NUMBER = re.compile(r"-\d[\d,_.]*")


@click.group(name="wallet")
@click.option("--wallet-url", default=lambda: SharedSettings().wallet_url,
              help=f"Wallet service URL [TAWA_WALLET_URL, the config file's wallet-url, default {WALLET_URL}].")
@click.pass_context
def group(ctx: click.Context, wallet_url: str) -> None:
    """Gas wallets: balance, ledger, buying tokens, and the wallet service itself."""
    ctx.obj = {"wallet_url": wallet_url}


# --------------------------------------------------------------------------- serve


@click.command()
@click.option("--port", type=int, default=WALLET_PORT, envvar="TAWA_WALLET_PORT", show_default=True)
@click.option("--host", default="127.0.0.1", envvar="TAWA_WALLET_HOST", show_default=True,
              help="Address to listen on (0.0.0.0 in a container).")
@click.option("--database-url", envvar="TAWA_WALLET_DATABASE_URL", default=None,
              help="sqlite:///PATH (default: wallet.db under ${TAWA_DATA_DIR:-~/.local/share/tawa}) "
                   "or postgresql://USER:PASS@HOST/DB.")
@click.option("--insecure-no-auth", is_flag=True, envvar="TAWA_WALLET_INSECURE_NO_AUTH",
              help="Start without TAWA_WALLET_TOKEN: anyone who can reach the port can spend. Local use only.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]),
              help="Logs are JSON lines on stderr, with the request id of the request they concern.")
@click.option("--metrics-port", type=int, default=None, envvar="TAWA_WALLET_METRICS_PORT",
              help="Serve /metrics on this port too, without a token (guard the port, e.g. with a "
                   "NetworkPolicy); /metrics on --port always needs the admin's token.")
def serve(port: int, host: str, database_url: str | None, insecure_no_auth: bool, log_level: str,
          metrics_port: int | None) -> None:
    """Run the wallet HTTP service (migrates the database first)."""
    import logging

    from tawa import logs
    from tawa.wallet.app import create_app
    from tawa.wallet.settings import ServerSettings

    try:
        settings = ServerSettings.from_env(database_url=database_url,
                                           insecure_no_auth=insecure_no_auth or None)
    except ValueError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    logs.configure(log_level)
    log = logging.getLogger("tawa.wallet")
    if settings.insecure_no_auth and not settings.token:
        log.warning("--insecure-no-auth: this wallet accepts every request without a token")
    from sqlalchemy.exc import SQLAlchemyError

    try:
        app = create_app(settings)  # migrates the database first
    except ValueError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    except SQLAlchemyError as exc:
        from sqlalchemy.engine import make_url

        where = make_url(settings.database_url).render_as_string(hide_password=True)
        fail(f"cannot open the wallet database {where}: {str(exc).splitlines()[0]}", EXIT_REFUSED)
    log.info("wallet listening", extra={"url": f"http://{host}:{port}", "database": app.state.store.dialect})
    from tawa.wallet.server import run

    run(app, settings, host, port, log_level, metrics_port)  # uvicorn, with header/body deadlines and no Server banner


group.add_command(serve)


# --------------------------------------------------------------------------- client commands


def _org(org: str | None) -> str:
    org = org or SharedSettings().org
    if not org:
        fail("name the org (tawa wallet balance ORG), or set TAWA_ORG", EXIT_BAD_INPUT)
    return checked_org(org)


def checked_org(org: str) -> str:
    """An org slug, or one line saying what ORG must be (exit 2)."""
    if names.is_wallet_id(org):
        fail(f"ORG: {org!r} is a wallet id; name the org instead: {names.org_of_wallet(org)}", EXIT_BAD_INPUT)
    try:
        return names.org_slug(org, "ORG")
    except names.InvalidName as exc:
        fail(str(exc), EXIT_BAD_INPUT)


def _url_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--wallet-url` after the subcommand too (`tawa wallet balance acme --wallet-url URL`)."""

    def remember(ctx: click.Context, _: click.Parameter, value: str | None) -> None:
        if value:
            ctx.ensure_object(dict)["wallet_url"] = value

    return click.option("--wallet-url", expose_value=False, callback=remember,
                        help="Wallet service URL (default: TAWA_WALLET_URL or the group's --wallet-url).")(fn)


def _call(ctx: click.Context, fn: Callable[[Any], T]) -> T:
    """Run a client call, turning wallet errors into one line on stderr and an exit code."""
    from tawa.wallet.client import InvalidRequest, WalletClient, WalletError

    try:
        with WalletClient(ctx.obj["wallet_url"]) as client:
            return fn(client)
    except InvalidRequest as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    except WalletError as exc:
        fail(str(exc), EXIT_REFUSED)


def _wallet_rows(w: Any) -> list[tuple[str, str]]:
    return [("intro", tokens(w.balances.intro)), ("purchased", tokens(w.balances.purchased)),
            ("earned", tokens(w.balances.earned)), ("held (API gas reserved)", tokens(w.held)),
            ("total", tokens(w.total)), ("available for hosting", tokens(w.available.hosting)),
            ("available for API gas", tokens(w.available.api))]


@group.command()
@click.argument("org", required=False)
@json_option
@_url_option
@click.pass_context
def balance(ctx: click.Context, org: str | None, as_json: bool) -> None:
    """An org's balance by token type (intro pays hosting only)."""
    from dataclasses import asdict

    w = _call(ctx, lambda c: c.get_wallet(_org(org)))
    if as_json:
        print_json(asdict(w))
        return
    print_table(("", "TOKENS"), _wallet_rows(w), title=f"{w.id} (1 token = $0.01)")


@group.command()
@click.argument("org", required=False)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@json_option
@_url_option
@click.pass_context
def ledger(ctx: click.Context, org: str | None, limit: int, as_json: bool) -> None:
    """Recent transactions, newest first, which token type paid for each, and who acted (BY: admin,
    operator, janus or key:ID; - for the wallet itself and for transactions older than actors)."""
    page = _call(ctx, lambda c: c.ledger(_org(org), limit=limit))
    if as_json:
        from dataclasses import asdict

        print_json({"wallet": page.wallet, "nextCursor": page.next_cursor,
                    "transactions": [asdict(t) | {"time": t.time.isoformat() if t.time else None}
                                     for t in page.transactions]})
        return
    mine = [(t.time.strftime("%Y-%m-%d %H:%M:%S") if t.time else "", t.type, tokens(t.amount),
             t.details.get("service") or t.details.get("component") or t.counterparty or "",
             ", ".join(f"{e.token_type} {e.amount:+,}" for e in t.entries if e.wallet == page.wallet)
             or "(reservation)", t.actor or "-") for t in page.transactions]
    print_table(("TIME (UTC)", "TYPE", "AMOUNT", "FOR", "THIS WALLET", "BY"), mine, title=page.wallet)


def parse_tokens(value: str) -> int:
    """`10000`, `10,000` or `10_000` → 10000; anything else is bad input."""
    cleaned = value.replace(",", "").replace("_", "").strip()
    if not cleaned.isdigit() or not 1 <= int(cleaned) <= MAX_TOKENS:
        fail(f"TOKENS must be a whole number of tokens from 1 to {MAX_TOKENS:,}; got {value!r}", EXIT_BAD_INPUT)
    return int(cleaned)


def _ask_tokens() -> int:
    for i, preset in enumerate(PRESETS, 1):
        click.echo(f"  {i}) {tokens(preset)} tokens (${preset // 100:,})")
    click.echo(f"  {len(PRESETS) + 1}) another amount")
    choice = click.prompt("Buy", type=click.IntRange(1, len(PRESETS) + 1), default=1)
    if choice <= len(PRESETS):
        return PRESETS[choice - 1]
    return parse_tokens(click.prompt("Tokens", type=str))


class _AmountCommand(click.Command):
    """`tawa wallet buy ORG -5` answers with the amount rule, not click's `No such option: -5`:
    a negative number looks like a flag to click, but here it can only be a bad amount."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given = list(args)  # click's parser consumes `args`
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption:
            number = next((a for a in given if NEGATIVE_NUMBER.fullmatch(a)), None)
            if number is not None:
                parse_tokens(number)  # fails, naming the rule
            raise


@group.command(cls=_AmountCommand)
@click.argument("org", required=False)
@click.argument("amount", metavar="[TOKENS]", required=False)
@click.option("--idempotency-key", help="Reuse to retry a purchase safely (default: a new key).")
@json_option
@_url_option
@click.pass_context
def buy(ctx: click.Context, org: str | None, amount: str | None, idempotency_key: str | None,
        as_json: bool) -> None:
    """Buy tokens: 10,000 / 25,000 / 50,000 / 100,000 or any amount (1 token = $0.01)."""
    org = _org(org)
    if amount is None:
        if not sys.stdin.isatty():
            fail("TOKENS is required when not interactive, e.g. tawa wallet buy ORG 10000", EXIT_BAD_INPUT)
        n = _ask_tokens()
    else:
        n = parse_tokens(amount)
    key = idempotency_key or f"cli-buy/{uuid.uuid4()}"
    charge = _call(ctx, lambda c: c.purchase(org, n, idempotency_key=key))
    if as_json:
        from dataclasses import asdict

        print_json({"transaction": charge.transaction.id, "tokens": n, "wallet": asdict(charge.wallet)})
        return
    click.echo(f"bought {tokens(n)} tokens (${n / 100:,.2f}) for {charge.wallet.id}: "
               f"purchased {tokens(charge.wallet.balances.purchased)}, total {tokens(charge.wallet.total)}")


def _grant(_: click.Context, __: click.Parameter, values: tuple[str, ...]) -> list[Any]:
    try:
        return [names.Grant.parse(v, "ORG/SERVICE") for v in values]
    except names.InvalidName as exc:
        raise click.BadParameter(str(exc)) from None


@group.command()
@click.argument("org", required=False)
@click.option("--add", "add", multiple=True, metavar="ORG/SERVICE", callback=_grant,
              help="Allow the service SERVICE owned by org ORG to bill this org with X-Bill-Org (repeatable).")
@click.option("--remove", "remove", multiple=True, metavar="ORG/SERVICE", callback=_grant,
              help="Withdraw a grant (repeatable).")
@json_option
@_url_option
@click.pass_context
def grants(ctx: click.Context, org: str | None, add: list[Any], remove: list[Any], as_json: bool) -> None:
    """Which callers may bill ORG with X-Bill-Org: each grant names the caller's owner org and service.

    Without --add/--remove, lists them. Janus caches grants for TAWA_JANUS_GRANTS_TTL (30 s by default),
    so a change takes up to that long to reach it."""
    org = _org(org)
    current = _call(ctx, lambda c: c.get_bill_grants(org))
    result = current
    if add or remove:
        wanted = sorted((set(current.grants) | set(add)) - set(remove))
        result = _call(ctx, lambda c: c.put_bill_grants(org, wanted))
    if as_json:
        print_json({"wallet": result.wallet, "grants": [g.json() for g in result.grants]})
        return
    if not result.grants:
        click.echo(f"{result.wallet}: no grants; nobody but {org} itself can bill it with X-Bill-Org")
        return
    print_table(("CALLER ORG", "SERVICE"), [(g.org, g.service) for g in result.grants], title=result.wallet)


# --------------------------------------------------------------------------- org keys


@group.group()
def keys() -> None:
    """An org's keys: credentials with the role owner (read, buy, bill grants, keys) or viewer (read).

    Run by the admin (TAWA_WALLET_TOKEN) or an owner key of the org."""


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "never"


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment else None


def _key_json(key: Any) -> dict[str, Any]:
    return {"id": key.id, "name": key.name, "role": key.role,
            "createdAt": _iso(key.created_at),
            "lastUsedAt": _iso(key.last_used_at)}


@keys.command("create")
@click.argument("org")
@click.option("--role", type=click.Choice(["owner", "viewer"]), required=True,
              help="owner: read, buy tokens, bill grants, keys; viewer: read only.")
@click.option("--name", default="", help="What the key is for (shown by `keys list`).")
@json_option
@_url_option
@click.pass_context
def keys_create(ctx: click.Context, org: str, role: str, name: str, as_json: bool) -> None:
    """Create a key for ORG; its secret is printed this once and never again."""
    org = checked_org(org)
    key = _call(ctx, lambda c: c.create_key(org, role, name))
    if as_json:
        print_json({"id": key.id, "key": key.key, "role": key.role, "name": key.name,
                    "createdAt": _iso(key.created_at)})
        return
    click.echo(f"created {key.role} key {key.id} for {org}" + (f" ({key.name})" if key.name else ""))
    click.echo(f"key: {key.key}")
    click.echo("It is shown only now: store it; give it to the program or person as TAWA_WALLET_TOKEN.")


@keys.command("list")
@click.argument("org")
@json_option
@_url_option
@click.pass_context
def keys_list(ctx: click.Context, org: str, as_json: bool) -> None:
    """ORG's live keys (never their secrets)."""
    org = checked_org(org)
    found = _call(ctx, lambda c: c.list_keys(org))
    if as_json:
        print_json([_key_json(k) for k in found])
        return
    if not found:
        click.echo(f"{names.wallet_id(org)}: no keys")
        return
    print_table(("ID", "ROLE", "NAME", "CREATED (UTC)", "LAST USED (UTC)"),
                [(k.id, k.role, k.name, _when(k.created_at), _when(k.last_used_at)) for k in found],
                title=names.wallet_id(org))


@keys.command("revoke")
@click.argument("org")
@click.argument("key_id")
@json_option
@_url_option
@click.pass_context
def keys_revoke(ctx: click.Context, org: str, key_id: str, as_json: bool) -> None:
    """Revoke ORG's key KEY_ID: refused from the next request on."""
    org = checked_org(org)
    _call(ctx, lambda c: c.revoke_key(org, key_id))
    if as_json:
        print_json({"wallet": names.wallet_id(org), "revoked": key_id})
        return
    click.echo(f"revoked key {key_id} of {names.wallet_id(org)}")
