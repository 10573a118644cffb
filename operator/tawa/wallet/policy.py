"""Who may do what: ONE table decides every wallet endpoint (pure: no HTTP, no SQL).

A caller is an `Identity`: a role, and for org keys the org and the key's id.
`decide(identity, method, path, orgs)` finds the endpoint's `Rule` in `RULES` and answers
`Allowed` (with the org a gas read is filtered to, for org keys) or a 403 `Forbidden`
naming which role may not do what. Paths no rule names are admin-only (the app answers
404 to an admin; nobody else learns which paths exist).

Org scope: an `owner` or `viewer` key of org X reaches only `wallet-X` (the `{wallet}` in
the path) and gas events/stats of X (`?org=` absent → X; another org → 403). The
`operator` and `janus` roles are not org-scoped: the operator charges hosting to any org
and Janus holds and settles for any caller. Settlements: the wallet cannot tell which
Component a request served, so a `janus` credential may name any provider wallet; Janus
itself derives the provider from the Component's owner (docs/design.md), never from input.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from tawa import names


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    JANUS = "janus"
    OWNER = "owner"
    VIEWER = "viewer"


ORG_ROLES = frozenset({Role.OWNER, Role.VIEWER})  # the roles of org keys


@dataclass(frozen=True)
class Identity:
    role: Role
    org: str | None = None  # owner / viewer: the key's org
    key_id: str | None = None  # owner / viewer: the key's id

    @property
    def actor(self) -> str:
        """What the ledger records as having acted: `admin`, `operator`, `janus` or `key:{id}`."""
        return f"key:{self.key_id}" if self.key_id else str(self.role)

    def described(self) -> str:
        if self.role in ORG_ROLES:
            return f"an {self.role} key of org {self.org}" if self.role == Role.OWNER \
                else f"a {self.role} key of org {self.org}"
        return f"the {self.role} credential"


ADMIN = Identity(Role.ADMIN)
_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Rule:
    method: str
    path: str  # the route's template; `{wallet}` is org-scoped for org keys
    does: str  # what a refusal says may not be done
    roles: frozenset[Role]  # besides admin, who always may
    open_read: bool = False  # served without a credential when TAWA_WALLET_OPEN_READS=true
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = _PARAM.sub(lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(self.path).replace(r"\{", "{")
                           .replace(r"\}", "}"))
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))

    def allows(self, role: Role) -> bool:
        return role == Role.ADMIN or role in self.roles


def _rule(method: str, path: str, does: str, *roles: Role, open_read: bool = False) -> Rule:
    return Rule(method, path, does, frozenset(roles), open_read)


OP, J, OWN, V = Role.OPERATOR, Role.JANUS, Role.OWNER, Role.VIEWER
W = "/v1/wallets/{wallet}"

# THE policy table (docs/wallet-identities.md shows it). Admin may do everything.
RULES: tuple[Rule, ...] = (
    _rule("POST", "/v1/wallets", "create wallets"),
    _rule("GET", W, "read wallets", OP, J, OWN, V, open_read=True),
    _rule("GET", f"{W}/ledger", "read ledgers", OWN, V, open_read=True),
    _rule("POST", f"{W}/purchases", "buy tokens", OWN),
    _rule("POST", f"{W}/check-reserve", "check reserves", OP),
    _rule("POST", f"{W}/hosting-charges", "charge hosting", OP),
    _rule("GET", f"{W}/bill-grants", "read bill grants", J, OWN, V, open_read=True),
    _rule("PUT", f"{W}/bill-grants", "set bill grants", OWN),
    _rule("POST", f"{W}/keys", "create org keys", OWN),
    _rule("GET", f"{W}/keys", "list org keys", OWN),
    _rule("DELETE", f"{W}/keys/{{key}}", "revoke org keys", OWN),
    _rule("POST", "/v1/holds", "place holds", J),
    _rule("POST", "/v1/holds/batch", "place holds", J),
    _rule("POST", "/v1/holds/{hold}/settle", "settle holds", J),
    _rule("POST", "/v1/holds/{hold}/release", "release holds", J),
    _rule("POST", "/v1/settlements/batch", "settle holds", J),
    _rule("GET", "/v1/gas/events", "read gas events", OWN, V, open_read=True),
    _rule("GET", "/v1/gas/stats", "read gas stats", OWN, V, open_read=True),
    _rule("GET", "/v1/admin/integrity", "check the ledger's integrity", open_read=True),
    _rule("POST", "/v1/transactions/{txn}/reversals", "reverse transactions"),
    _rule("GET", "/metrics", "read the metrics"),
    _rule("GET", "/v1/whoami", "ask who it is", OP, J, OWN, V),
)


@dataclass(frozen=True)
class Allowed:
    rule: Rule | None
    org_filter: str | None = None  # gas reads by an org key: filtered to this org


@dataclass(frozen=True)
class Forbidden:
    message: str


def rule_for(method: str, path: str) -> tuple[Rule, dict[str, str]] | None:
    method = "GET" if method == "HEAD" else method
    for rule in RULES:
        if rule.method == method and (match := rule.pattern.match(path)):
            return rule, match.groupdict()
    return None


def who_may(rule: Rule) -> str:
    roles = ["admin", *sorted(str(r) for r in rule.roles)]
    return " or ".join(roles) if len(roles) < 3 else ", ".join(roles[:-1]) + " or " + roles[-1]


def decide(identity: Identity, method: str, path: str, orgs: Sequence[str] = ()) -> Allowed | Forbidden:
    """May `identity` call `method path`? `orgs`: the request's `?org=` values (gas reads)."""
    found = rule_for(method, path)
    if found is None:
        if identity.role == Role.ADMIN:
            return Allowed(None)
        return Forbidden(f"{identity.described()} may not call {method} {path}: no such endpoint for its role")
    rule, params = found
    if not rule.allows(identity.role):
        return Forbidden(f"{identity.described()} may not {rule.does} ({rule.method} {rule.path}): that needs "
                         f"{who_may(rule)}")
    if identity.role not in ORG_ROLES or identity.org is None:
        return Allowed(rule)
    own = names.wallet_id(identity.org)
    wallet = params.get("wallet")
    if wallet is not None and wallet != own:
        return Forbidden(f"{identity.described()} may not {rule.does} of {wallet}: only of its own wallet {own}")
    if wallet is None:  # gas events / stats: only the org's own
        other = next((o for o in orgs if o != identity.org), None)
        if other is not None:
            return Forbidden(f"{identity.described()} may not {rule.does} of org {other}: only of org "
                             f"{identity.org}")
        return Allowed(rule, org_filter=identity.org)
    return Allowed(rule)
