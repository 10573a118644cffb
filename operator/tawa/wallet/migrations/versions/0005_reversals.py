"""Reversals: `ledger_txns.reverses`, the transaction a reversal compensates.

Unique, so a transaction is reversed at most once even when two replicas try together (the
second insert fails, is retried, and answers 409 ALREADY_REVERSED). Existing rows: NULL.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ledger_txns", sa.Column("reverses", sa.BigInteger, nullable=True))
    op.create_index("ux_ledger_txns_reverses", "ledger_txns", ["reverses"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_ledger_txns_reverses", "ledger_txns")
    with op.batch_alter_table("ledger_txns") as batch:
        batch.drop_column("reverses")
