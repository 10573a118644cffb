"""Bill grants name a caller — the service's owner org and the service — not a bare service name.

Grants stored under 0001 named only a service (`quoting`). A bare name cannot be mapped
to an owner safely: Component names repeat across namespaces and owners, and any token
could say `serviceId: quoting`. Guessing an owner would hand someone the right to bill
the granting org, so those grants are DROPPED, with one warning per wallet naming what
was dropped and how to grant it again (`tawa wallet grants ORG --add OWNER/SERVICE`).
Until then Janus refuses X-Bill-Org from those callers (403): it fails closed, and
nobody is billed who did not say so. See docs/wallet-input.md.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import logging
from itertools import groupby

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

log = logging.getLogger("tawa.wallet.migrations")


def upgrade() -> None:
    rows = op.get_bind().execute(sa.text("SELECT wallet_id, service FROM bill_grants")).all()
    for wallet, grants in groupby(sorted(rows), key=lambda r: r[0]):
        services = [r[1] for r in grants]
        log.warning("bill grants dropped: %s granted %d bare service name(s) (%s) that name no owner org; "
                    "grant them again as OWNER/SERVICE with `tawa wallet grants ORG --add OWNER/SERVICE`",
                    wallet, len(services), ", ".join(services),
                    extra={"wallet": wallet, "services": services})
    op.drop_table("bill_grants")
    op.create_table(
        "bill_grants",
        sa.Column("wallet_id", sa.String(80), primary_key=True),
        sa.Column("org", sa.String(63), primary_key=True),
        sa.Column("service", sa.String(63), primary_key=True),
    )


def downgrade() -> None:
    # The old shape cannot say who owns a service: going back drops the grants too.
    count = op.get_bind().execute(sa.text("SELECT count(*) FROM bill_grants")).scalar_one()
    if count:
        log.warning("bill grants dropped: %d grant(s) cannot be kept in the 0001 shape", count)
    op.drop_table("bill_grants")
    op.create_table(
        "bill_grants",
        sa.Column("wallet_id", sa.String(80), primary_key=True),
        sa.Column("service", sa.String(255), primary_key=True),
    )
