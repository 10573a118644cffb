"""The canonical form of every name that decides whose money moves (pure).

An org is a DNS label that does not start with `wallet-`; its wallet id is
`wallet-{org}`, and nothing else is. The prefix is reserved so that an org id
can never be mistaken for a wallet id, nor a wallet id guessed from a string
that merely looks like one: every program turns an org into a wallet id with
`wallet_id` and a wallet id back into its org with `org_of_wallet`, and both
refuse what is not canonical instead of passing it through.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
WALLET_PREFIX = "wallet-"
_LABEL = re.compile(DNS_LABEL)
ORG_RULE = ("an org slug: a DNS label (lower-case letters, digits and '-', at most 63 characters) "
            f"that does not start with {WALLET_PREFIX!r}")


class InvalidName(ValueError):
    """A name that decides money is not in its one canonical form; `.field` names the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} must be {message}")
        self.field = field


def is_dns_label(value: object) -> bool:
    return isinstance(value, str) and _LABEL.fullmatch(value) is not None


def is_org(value: object) -> bool:
    return is_dns_label(value) and not str(value).startswith(WALLET_PREFIX)


def org_slug(value: object, field: str = "org") -> str:
    """`value` if it is an org slug; raises InvalidName (which does not echo the value) otherwise."""
    if not is_org(value):
        raise InvalidName(field, ORG_RULE)
    return str(value)


def wallet_id(org: str, field: str = "org") -> str:
    """`acme` → `wallet-acme`; anything but an org slug is refused, never passed through."""
    return WALLET_PREFIX + org_slug(org, field)


def org_of_wallet(wallet: str, field: str = "wallet") -> str:
    """`wallet-acme` → `acme`; refuses what `wallet_id` could not have produced."""
    if not isinstance(wallet, str) or not wallet.startswith(WALLET_PREFIX) \
            or not is_org(wallet[len(WALLET_PREFIX):]):
        raise InvalidName(field, f"a wallet id: {WALLET_PREFIX!r} followed by {ORG_RULE}")
    return wallet[len(WALLET_PREFIX):]


def is_wallet_id(value: object) -> bool:
    try:
        org_of_wallet(value)  # type: ignore[arg-type]
    except InvalidName:
        return False
    return True


@dataclass(frozen=True, order=True)
class Grant:
    """The service `service` owned by org `org` may bill the granting org with X-Bill-Org.

    A grant names an identity, not a bare service name: service names repeat
    across orgs and namespaces, an owner org and its service do not."""

    org: str
    service: str

    @classmethod
    def parse(cls, text: str, field: str = "grant") -> Grant:
        """`acme/quoting` → Grant("acme", "quoting"), both parts checked."""
        org, slash, service = text.partition("/")
        if not slash or not is_org(org) or not is_dns_label(service):
            raise InvalidName(field, f"ORG/SERVICE, {ORG_RULE} then a service name (a DNS label), "
                                     "e.g. acme/quoting")
        return cls(org, service)

    def json(self) -> dict[str, str]:
        return {"org": self.org, "service": self.service}

    def __str__(self) -> str:
        return f"{self.org}/{self.service}"
