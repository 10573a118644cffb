"""Initial wallet schema: wallets, accounts, ledger, holds, gas events, idempotency, bill grants.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

PLATFORM_ACCOUNTS = ("platform:intro-grants", "platform:purchases", "platform:hosting-revenue")


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.schema.CreateSequence(sa.Sequence("ledger_txn_id_seq")))
    op.create_table(
        "wallets",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("org", sa.String(63), nullable=False, unique=True),
        sa.Column("held", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    accounts = op.create_table(
        "accounts",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("wallet_id", sa.String(80), nullable=True, index=True),
        sa.Column("token_type", sa.String(16), nullable=True),
        sa.Column("balance", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "ledger_txns",
        sa.Column("id", _id(), primary_key=True, autoincrement=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("wallet_id", sa.String(80), nullable=False),
        sa.Column("counterparty", sa.String(80), nullable=True),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("hold_id", sa.String(64), nullable=True),
        sa.Column("details", sa.Text, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Index("ix_ledger_txns_wallet", "wallet_id", "id"),
        sa.Index("ix_ledger_txns_counterparty", "counterparty", "id"),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", _id(), primary_key=True, autoincrement=True),
        sa.Column("txn_id", sa.BigInteger, nullable=False, index=True),
        sa.Column("account_id", sa.String(100), nullable=False, index=True),
        sa.Column("wallet_id", sa.String(80), nullable=True),
        sa.Column("token_type", sa.String(16), nullable=True),
        sa.Column("amount", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "holds",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("wallet_id", sa.String(80), nullable=False),
        sa.Column("tokens", sa.BigInteger, nullable=False),
        sa.Column("remaining", sa.BigInteger, nullable=False),
        sa.Column("settled", sa.BigInteger, nullable=False),
        sa.Column("released", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Index("ix_holds_due", "status", "expires_at"),
        sa.Index("ix_holds_wallet", "wallet_id", "status"),
    )
    op.create_table(
        "gas_events",
        sa.Column("id", _id(), primary_key=True, autoincrement=True),
        sa.Column("txn_id", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("org", sa.String(63), nullable=False),
        sa.Column("wallet_id", sa.String(80), nullable=False),
        sa.Column("provider", sa.String(80), nullable=True),
        sa.Column("service", sa.String(255), nullable=True),
        sa.Column("route", sa.String(512), nullable=True),
        sa.Column("method", sa.String(16), nullable=True),
        sa.Column("tokens", sa.BigInteger, nullable=False),
        sa.Column("request_id", sa.String(255), nullable=True),
        sa.Column("details", sa.Text, nullable=True),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Index("ix_gas_events_time", "created_at"),
        sa.Index("ix_gas_events_org", "org", "id"),
        sa.Index("ix_gas_events_service", "service", "id"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False, index=True),
    )
    op.create_table(
        "bill_grants",
        sa.Column("wallet_id", sa.String(80), primary_key=True),
        sa.Column("service", sa.String(255), primary_key=True),
    )
    # Platform accounts exist from the start so that every transfer has both sides.
    op.bulk_insert(accounts, [{"id": a, "wallet_id": None, "token_type": None, "balance": 0}
                              for a in PLATFORM_ACCOUNTS])


def downgrade() -> None:
    for table in ("bill_grants", "idempotency_keys", "gas_events", "holds", "ledger_entries", "ledger_txns",
                  "accounts", "wallets"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.schema.DropSequence(sa.Sequence("ledger_txn_id_seq")))
