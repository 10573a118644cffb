"""SQL tables (SQLAlchemy Core). Migrations in `migrations/versions` create exactly these;
a test compares the migrated database with this metadata.

Times are integer microseconds since the epoch (portable, exact, sortable); gas
events also carry their UTC day so that stats group the same way on every database.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, Sequence, String, Table, Text

metadata = MetaData()

# SQLite only aliases the rowid for INTEGER PRIMARY KEY; PostgreSQL wants BIGINT.
Id = BigInteger().with_variant(Integer(), "sqlite")
TXN_SEQ = Sequence("ledger_txn_id_seq", metadata=metadata)

wallets = Table(
    "wallets", metadata,
    Column("id", String(80), primary_key=True),
    Column("org", String(63), nullable=False, unique=True),
    Column("held", BigInteger, nullable=False),  # sum of remaining over open holds
    Column("created_at", BigInteger, nullable=False),
)

accounts = Table(
    "accounts", metadata,
    Column("id", String(100), primary_key=True),  # wallet-{org}:{token type} | platform:{name}
    Column("wallet_id", String(80), nullable=True, index=True),
    Column("token_type", String(16), nullable=True),
    Column("balance", BigInteger, nullable=False),
)

ledger_txns = Table(
    "ledger_txns", metadata,
    Column("id", Id, TXN_SEQ, primary_key=True, autoincrement=False),
    Column("type", String(20), nullable=False),
    Column("wallet_id", String(80), nullable=False),
    Column("counterparty", String(80), nullable=True),
    Column("amount", BigInteger, nullable=False),
    Column("hold_id", String(64), nullable=True),
    Column("details", Text, nullable=True),  # JSON
    Column("created_at", BigInteger, nullable=False),
    # admin | operator | janus | key:{id}; NULL: the wallet itself (expiries) or a row older than 0004
    Column("actor", String(40), nullable=True),
    # A reversal: the transaction it compensates (0005). Unique: a transaction is reversed at most once.
    Column("reverses", BigInteger, nullable=True),
    Index("ux_ledger_txns_reverses", "reverses", unique=True),
    Index("ix_ledger_txns_wallet", "wallet_id", "id"),
    Index("ix_ledger_txns_counterparty", "counterparty", "id"),
)

ledger_entries = Table(
    "ledger_entries", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("txn_id", BigInteger, nullable=False, index=True),
    Column("account_id", String(100), nullable=False, index=True),
    Column("wallet_id", String(80), nullable=True),
    Column("token_type", String(16), nullable=True),
    Column("amount", BigInteger, nullable=False),
)

holds = Table(
    "holds", metadata,
    Column("id", String(64), primary_key=True),
    Column("wallet_id", String(80), nullable=False),
    Column("tokens", BigInteger, nullable=False),
    Column("remaining", BigInteger, nullable=False),
    Column("settled", BigInteger, nullable=False),
    Column("released", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_holds_due", "status", "expires_at"),
    Index("ix_holds_wallet", "wallet_id", "status"),
)

gas_events = Table(
    "gas_events", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("txn_id", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),  # api | hosting
    Column("org", String(63), nullable=False),
    Column("wallet_id", String(80), nullable=False),
    Column("provider", String(80), nullable=True),
    Column("service", String(255), nullable=True),
    Column("route", String(512), nullable=True),
    Column("method", String(16), nullable=True),
    Column("tokens", BigInteger, nullable=False),
    Column("request_id", String(255), nullable=True),
    Column("details", Text, nullable=True),  # JSON
    Column("day", String(10), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_gas_events_time", "created_at"),
    Index("ix_gas_events_org", "org", "id"),
    Index("ix_gas_events_service", "service", "id"),
)

idempotency_keys = Table(
    "idempotency_keys", metadata,
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("body", Text, nullable=False),  # JSON of the first answer
    Column("created_at", BigInteger, nullable=False, index=True),
)

# The service `service` owned by org `org` may bill wallet `wallet_id` (migration 0002).
bill_grants = Table(
    "bill_grants", metadata,
    Column("wallet_id", String(80), primary_key=True),
    Column("org", String(63), primary_key=True),
    Column("service", String(63), primary_key=True),
)

# Org keys (migration 0003): only a hash of the key is stored; the key is shown once, at creation.
org_keys = Table(
    "org_keys", metadata,
    Column("id", String(32), primary_key=True),
    Column("wallet_id", String(80), nullable=False, index=True),
    Column("org", String(63), nullable=False),
    Column("role", String(16), nullable=False),  # owner | viewer
    Column("name", String(100), nullable=False),
    Column("key_hash", String(64), nullable=False),  # sha256 hex of the whole key
    Column("created_at", BigInteger, nullable=False),
    Column("last_used_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
)
