"""Who pays for a metered call (pure).

Priority (spec): X-Bill-Org — only when that org's bill grants name the
caller, i.e. its verified owner org *and* service — else the JWT's programId,
else its serviceId. A grant names an identity, never a bare service name:
service names repeat across orgs and namespaces, an org and its service do not.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from tawa import names
from tawa.janus.model import Caller
from tawa.names import Grant
from tawa.refusal import Refusal


@dataclass(frozen=True)
class Payer:
    org: str
    via: Literal["bill-org", "program", "service"]


def needs_grants(caller: Caller | None, bill_org: str | None) -> bool:
    """Whether the bill grants of `bill_org` must be fetched to decide."""
    return bool(bill_org) and not (caller is not None and caller.program_id == bill_org)


def granted(caller: Caller | None, grants: Collection[Grant]) -> bool:
    """Whether a grant names this caller's verified owner org and service."""
    if caller is None or not caller.program_id or not caller.service_id:
        return False
    return Grant(caller.program_id, caller.service_id) in grants


def choose_payer(
    caller: Caller | None, bill_org: str | None, grants: Collection[Grant] | None = None
) -> Payer | Refusal:
    """The org to charge, or why nobody can be (403: grant missing, 401: nobody known)."""
    if bill_org:
        if caller is not None and caller.program_id == bill_org:
            return Payer(bill_org, "program")  # billing one's own org needs no grant
        if not granted(caller, grants or ()):
            who = (f"service {caller.service_id!r} of org {caller.program_id!r}"
                   if caller and caller.service_id and caller.program_id else "this caller")
            return Refusal(403, "BILL_ORG_NOT_GRANTED",
                           f"Org {bill_org!r} has not allowed {who} to bill it via X-Bill-Org; ask {bill_org!r} "
                           "to add a grant for the caller's org and service, or drop the header.",
                           org=bill_org, service=caller.service_id if caller else None)
        return Payer(bill_org, "bill-org")
    if caller is not None and caller.program_id:
        return Payer(caller.program_id, "program")
    if caller is not None and caller.service_id:
        if not names.is_org(caller.service_id):
            return Refusal(403, "NO_PAYER", "The caller names no programId and its serviceId cannot be an org; "
                           "send a token with programId set to the org that pays.")
        return Payer(caller.service_id, "service")
    return Refusal(401, "IDENTITY_REQUIRED",
                   "This route costs gas and the caller is unknown; send "
                   "'Authorization: Bearer <service token>' so Janus knows whom to charge.")
