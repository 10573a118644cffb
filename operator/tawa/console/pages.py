"""The console's HTML, built from the stdlib only (`string.Template` and `html.escape`): every
value that is not our own markup goes through `e` (escaped) before it reaches a page. No inline
script anywhere: the Content-Security-Policy forbids it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from string import Template

from tawa.console.sessions import Session
from tawa.wallet.client import BillGrants, NewOrgKey, OrgKey, Transaction, Wallet

PRESETS = (10_000, 25_000, 50_000, 100_000)
VIEWER_CANNOT = "Only an owner key may {what}: you are signed in with a viewer key."

LAYOUT = Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title · Tawa Console</title><link rel="stylesheet" href="/static/console.css"></head>
<body><header><a class="brand" href="/wallet">Tawa Console</a>$nav</header>
<main><h1>$title</h1>$notice$body</main></body></html>
""")


def e(value: object) -> str:
    return escape(str(value), quote=True)


def n(number: int) -> str:
    """Thousands separators: 25,000."""
    return f"{number:,}"


def dollars(tokens: int) -> str:
    """1 token = $0.01."""
    whole, cents = divmod(tokens, 100)
    return f"${whole:,}" if cents == 0 else f"${whole:,}.{cents:02d}"


def when(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S UTC") if t else "—"


def csrf_field(token: str) -> str:
    return f'<input type="hidden" name="csrf" value="{e(token)}">'


def form(action: str, session: Session, inner: str, css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    return f'<form method="post" action="{e(action)}"{cls}>{csrf_field(session.csrf)}{inner}</form>'


def page(title: str, body: str, session: Session | None = None, notice: str = "", error: bool = True) -> str:
    nav = ""
    if session is not None:
        links = "".join(f'<a href="{href}">{label}</a>' for href, label in
                        (("/wallet", "Wallet"), ("/keys", "Keys"), ("/grants", "Grants"), ("/usage", "Usage"),
                         ("/components", "Components")))
        who = f'<span class="who">{e(session.org)} · {e(session.role)}</span>'
        nav = f'<nav>{links}{who}{form("/logout", session, "<button>Log out</button>", "inline")}</nav>'
    if notice:
        notice = f'<p class="{"error" if error else "ok"}" role="alert">{e(notice)}</p>'
    return LAYOUT.substitute(title=e(title), nav=nav, notice=notice, body=body)


def table(head: Sequence[str], rows: Iterable[Sequence[str]], empty: str) -> str:
    """Cells are markup already escaped by the caller."""
    body = "".join("<tr>" + "".join(f'<td data-label="{e(h)}">{c}</td>' for h, c in zip(head, row, strict=True))
                   + "</tr>" for row in rows)
    if not body:
        return f'<p class="empty">{e(empty)}</p>'
    return ("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr></thead>"
            f"<tbody>{body}</tbody></table>")


# --------------------------------------------------------------------------- login


def login(csrf: str, notice: str = "") -> str:
    body = (f'<form method="post" action="/login" class="card">{csrf_field(csrf)}'
            '<label for="key">Org key</label>'
            '<input id="key" name="key" type="password" autocomplete="off" required placeholder="twk_…">'
            '<button type="submit">Log in</button></form>'
            '<p class="hint">An org key (owner or viewer) from your org\'s owner, or from '
            '<code>tawa wallet keys create</code>. It stays on the console\'s server, never in your browser.</p>')
    return page("Log in", body, notice=notice)


# --------------------------------------------------------------------------- wallet


def wallet(session: Session, w: Wallet, ledger: Sequence[Transaction], next_cursor: str | None,
           notice: str = "", error: bool = True) -> str:
    b = w.balances
    cards = "".join(f'<div class="stat" id="{e(k)}"><span>{e(label)}</span><strong>{n(v)}</strong></div>'
                    for k, label, v in (("intro", "Intro", b.intro), ("purchased", "Purchased", b.purchased),
                                        ("earned", "Earned", b.earned), ("held", "Held", w.held),
                                        ("available-hosting", "Available for hosting", w.available.hosting),
                                        ("available-api", "Available for API calls", w.available.api)))
    more = f'<p><a class="button" href="/wallet?cursor={e(next_cursor)}">Older entries</a></p>' if next_cursor else ""
    body = (f'<section class="stats">{cards}</section>{buy(session)}<h2>Ledger</h2>'
            + table(("Time", "Kind", "Amount", "Token type", "Who"), (entry(w.id, t) for t in ledger),
                    "No transactions yet.") + more)
    return page(f"Wallet of {w.org}", body, session, notice, error)


def entry(wallet_id: str, t: Transaction) -> list[str]:
    paid = ", ".join(f"{e(x.token_type)} {n(abs(x.amount))}" for x in t.entries
                     if x.wallet == wallet_id and x.token_type)
    return [e(when(t.time)), e(t.type), n(t.amount), paid or "—", e(t.actor or "wallet")]


def buy(session: Session) -> str:
    """One form per preset and one for a custom amount, each with its own idempotency key made
    now: a double click or a refresh of the same form buys once."""
    disabled = "" if session.owner else " disabled"
    why = e(VIEWER_CANNOT.format(what="buy tokens"))
    reason = "" if session.owner else f'<p class="reason" id="buy-reason">{why}</p>'
    reason = "" if session.owner else f'<p class="reason" id="buy-reason">{why}</p>'

    def one(inner: str) -> str:
        key = f'<input type="hidden" name="idempotency_key" value="{uuid.uuid4()}">'
        return form("/wallet/purchases", session, key + inner, "buy")

    presets = "".join(one(f'<button name="tokens" value="{p}"{disabled}>{n(p)} tokens<small>{dollars(p)}'
                          "</small></button>") for p in PRESETS)
    custom = one('<label for="custom">Custom amount (tokens)</label>'
                 f'<input id="custom" name="tokens" inputmode="numeric" required pattern="[0-9,]+"{disabled}>'
                 f'<button type="submit"{disabled}>Buy</button>')
    return (f'<section class="card"><h2>Buy tokens</h2><p class="hint">1 token = $0.01</p>{reason}'
            f'<div class="presets">{presets}</div>{custom}</section>')


# --------------------------------------------------------------------------- keys and grants


def keys(session: Session, found: Sequence[OrgKey], notice: str = "", error: bool = True) -> str:
    def row(k: OrgKey) -> list[str]:
        revoke = form(f"/keys/{k.id}/revoke", session, f'<button class="danger" value="{e(k.id)}">Revoke</button>')
        return [e(k.name or "—"), e(k.role), e(when(k.created_at)), e(when(k.last_used_at)), revoke]

    create = form("/keys", session, '<label for="name">Name</label><input id="name" name="name" maxlength="100">'
                  '<label for="role">Role</label><select id="role" name="role">'
                  '<option value="viewer">viewer</option><option value="owner">owner</option></select>'
                  '<button type="submit">Create key</button>', "card")
    body = table(("Name", "Role", "Created", "Last used", ""), (row(k) for k in found), "No keys.")
    return page("Org keys", f"{body}<h2>New key</h2>{create}", session, notice, error)


def new_key(session: Session, key: NewOrgKey) -> str:
    body = (f'<p>Key <strong>{e(key.name or key.id)}</strong> ({e(key.role)}) was created. Copy it now: '
            'it is shown this once and never again.</p>'
            f'<pre class="secret" id="new-key">{e(key.key)}</pre><p><a class="button" href="/keys">Done</a></p>')
    return page("Key created", body, session)


def grants(session: Session, found: BillGrants, notice: str = "", error: bool = True) -> str:
    disabled = "" if session.owner else " disabled"

    def row(g: str) -> list[str]:
        return [e(g), form("/grants/remove", session, f'<input type="hidden" name="grant" value="{e(g)}">'
                           f'<button class="danger"{disabled}>Remove</button>')]

    reason = "" if session.owner else f'<p class="reason">{e(VIEWER_CANNOT.format(what="change grants"))}</p>'
    add = form("/grants", session, '<label for="grant">Service (org/service)</label>'
               f'<input id="grant" name="grant" required placeholder="acme/quoting"{disabled}>'
               f'<button type="submit"{disabled}>Add grant</button>', "card")
    body = ('<p class="hint">Services that may bill this wallet with X-Bill-Org.</p>'
            + table(("Service", ""), (row(str(g)) for g in found.grants), "No grants.") + reason + add)
    return page("Bill grants", body, session, notice, error)


def refused(title: str, message: str, session: Session | None = None) -> str:
    return page(title, '<p><a class="button" href="/wallet">Back to the wallet</a></p>', session, message)
