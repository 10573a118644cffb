"""Org keys: credentials an org's people hold, with the role `owner` or `viewer` of that org.

Only a SHA-256 hash of each key is stored (keys are 192 random bits: no salt or slow hash
needed); a revoked key keeps its row (revoked_at) so the ledger's `key:{id}` actors still
name it.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "org_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("wallet_id", sa.String(80), nullable=False),
        sa.Column("org", sa.String(63), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_used_at", sa.BigInteger, nullable=True),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_org_keys_wallet_id", "org_keys", ["wallet_id"])


def downgrade() -> None:
    op.drop_index("ix_org_keys_wallet_id", "org_keys")
    op.drop_table("org_keys")
