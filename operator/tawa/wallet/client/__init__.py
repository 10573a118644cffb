"""Typed client for the wallet HTTP API, shared by the operator, Janus and the CLI.

`WalletClient` (sync) and `AsyncWalletClient` (async) have the same methods and
return the same dataclasses. Every mutating method takes `idempotency_key`; when
it is None a fresh uuid4 is used, so pass your own key whenever you may retry
(e.g. `hosting/{component uid}/{hour}`). Errors are typed, all subclasses of
`WalletError` (the hierarchy: `tawa.wallet.client._errors`).

Every method takes an org (`acme`), never a wallet id: the client builds the
wallet id with `tawa.names.wallet_id`, which refuses anything that is not an
org slug (`tawa.names.InvalidName`), and quotes every path segment, so no
input can choose another path or query than the one the method names.

Batch calls (`hold_batch`, `settle_batch`) never raise for an item: each
`BatchResult` carries its own status, body, parsed value or typed error.

Layout: `_errors` (the exceptions), `_models` (the typed answers and batch items),
`_calls` (every request built and every answer read, once), `_sync` and `_async`
(the two clients: they only send).
"""

from tawa.names import Grant, wallet_id
from tawa.wallet.client._async import AsyncWalletClient
from tawa.wallet.client._errors import (
    BadWalletAnswer,
    HoldClosed,
    HoldNotFound,
    IdempotencyConflict,
    InsufficientGas,
    InvalidRequest,
    KeyNotFound,
    WalletAuthError,
    WalletError,
    WalletNotFound,
    WalletUnavailable,
    error_for,
)
from tawa.wallet.client._models import (
    Available,
    Balances,
    BatchResult,
    BillGrants,
    Charge,
    Entry,
    GasEvent,
    GasEventsPage,
    GasStats,
    GasStatsGroup,
    Hold,
    HoldRequest,
    Integrity,
    LedgerPage,
    NewOrgKey,
    OrgKey,
    ReserveCheck,
    Reversal,
    Settlement,
    SettleRequest,
    Transaction,
    Wallet,
)
from tawa.wallet.client._sync import WalletClient

__all__ = [
    "AsyncWalletClient", "Available", "BadWalletAnswer", "Balances", "BatchResult", "BillGrants", "Charge", "Entry",
    "GasEvent", "GasEventsPage", "GasStats", "GasStatsGroup", "Grant", "Hold", "HoldClosed", "HoldNotFound",
    "HoldRequest", "IdempotencyConflict", "InsufficientGas", "Integrity", "InvalidRequest", "KeyNotFound",
    "LedgerPage", "NewOrgKey", "OrgKey", "ReserveCheck", "Reversal", "SettleRequest", "Settlement", "Transaction",
    "Wallet", "WalletAuthError", "WalletClient", "WalletError", "WalletNotFound", "WalletUnavailable", "error_for",
    "wallet_id",
]
