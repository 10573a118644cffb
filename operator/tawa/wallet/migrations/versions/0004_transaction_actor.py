"""Who acted: `ledger_txns.actor` (`admin`, `operator`, `janus`, `key:{id}`).

Rows written before this migration keep NULL: until now the operator, Janus and people all
held the one admin token, so writing `admin` would claim to know who acted when nobody can.
NULL also marks what the wallet does by itself (a hold's TTL running out).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (nullable, no default) on both databases: the ledger is not copied.
    op.add_column("ledger_txns", sa.Column("actor", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger_txns") as batch:
        batch.drop_column("actor")
