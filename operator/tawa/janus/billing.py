"""Who pays for a metered call (pure).

Priority (spec): X-Bill-Org — only when that org's bill grants list the calling
service — else the JWT's programId, else its serviceId.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from tawa.janus.model import Caller, Refusal, refusal


@dataclass(frozen=True)
class Payer:
    org: str
    via: Literal["bill-org", "program", "service"]

    @property
    def wallet(self) -> str:
        return f"wallet-{self.org}"


def needs_grants(caller: Caller | None, bill_org: str | None) -> bool:
    """Whether the bill grants of `bill_org` must be fetched to decide."""
    return bool(bill_org) and not (caller is not None and caller.program_id == bill_org)


def choose_payer(
    caller: Caller | None, bill_org: str | None, grants: Collection[str] | None = None
) -> Payer | Refusal:
    """The org to charge, or why nobody can be (403: grant missing, 401: nobody known)."""
    if bill_org:
        if caller is not None and caller.program_id == bill_org:
            return Payer(bill_org, "program")  # billing one's own org needs no grant
        service = caller.service_id if caller else None
        if service is None or service not in (grants or ()):
            who = f"service {service!r}" if service else "an anonymous caller"
            return refusal(403, "BILL_ORG_NOT_GRANTED",
                           f"Org {bill_org!r} has not allowed {who} to bill it via X-Bill-Org; "
                           f"ask {bill_org!r} to add the service to its bill grants or drop the header.",
                           org=bill_org, service=service)
        return Payer(bill_org, "bill-org")
    if caller is not None and caller.program_id:
        return Payer(caller.program_id, "program")
    if caller is not None and caller.service_id:
        return Payer(caller.service_id, "service")
    return refusal(401, "IDENTITY_REQUIRED",
                   "This route costs gas and the caller is unknown; send "
                   "'Authorization: Bearer <service token>' so Janus knows whom to charge.")
