"""The wallet client's errors, all subclasses of `WalletError` (`.status`, `.body`, `.code`, `.field`):

- `WalletNotFound` (404 WALLET_NOT_FOUND), `HoldNotFound` (404 HOLD_NOT_FOUND),
  `KeyNotFound` (404 KEY_NOT_FOUND)
- `InsufficientGas` (402; `.required`, `.available`, `.wallet`)
- `HoldClosed` (409 HOLD_RELEASED / HOLD_EXPIRED: the hold can no longer be settled)
- `IdempotencyConflict` (422 IDEMPOTENCY_KEY_REUSED, or 409 IDEMPOTENCY_IN_FLIGHT
  after the client's own short retries ran out)
- `InvalidRequest` (400/422 bad input), `WalletAuthError` (401/403)
- `WalletUnavailable` (connection refused, timeouts, 5xx): the operator fails
  closed on it, Janus fails open. Only a real outage is this.
- `BadWalletAnswer` (a 2xx the client cannot read, or a status it does not
  know): an error, never an outage — nobody fails open on it.

`error_for(status, body)` picks the one for an answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class WalletError(Exception):
    """Any refusal or failure from the wallet; `.status` 0 means no HTTP answer."""

    def __init__(self, status: int, body: Mapping[str, Any] | None = None, message: str | None = None) -> None:
        self.status = status
        self.body: dict[str, Any] = dict(body or {})
        self.code: str = str(self.body.get("error", "WALLET_ERROR"))
        self.field: str | None = self.body.get("field")
        super().__init__(message or self.body.get("message") or f"wallet answered HTTP {status}")


class WalletNotFound(WalletError):
    pass


class HoldNotFound(WalletError):
    pass


class InsufficientGas(WalletError):
    @property
    def required(self) -> int:
        return int(self.body.get("required", 0))

    @property
    def available(self) -> int:
        return int(self.body.get("available", 0))

    @property
    def wallet(self) -> str | None:
        return self.body.get("wallet")


class KeyNotFound(WalletError):
    """404 KEY_NOT_FOUND: the org has no live key with that id (revoked already, or never its)."""


class HoldClosed(WalletError):
    pass


class IdempotencyConflict(WalletError):
    pass


class InvalidRequest(WalletError):
    pass


class WalletAuthError(WalletError):
    pass


class WalletUnavailable(WalletError):
    pass


class BadWalletAnswer(WalletError):
    """The wallet answered, but not in a way this client understands: an error, not an outage."""


def error_for(status: int, body: Mapping[str, Any] | None) -> WalletError:
    """The typed exception for a non-2xx answer."""
    code = str((body or {}).get("error", ""))
    if status >= 500:
        return WalletUnavailable(status, body)
    if code.startswith("IDEMPOTENCY_") and status in (409, 422):
        return IdempotencyConflict(status, body)
    by_code: dict[str, type[WalletError]] = {
        "WALLET_NOT_FOUND": WalletNotFound,
        "HOLD_NOT_FOUND": HoldNotFound,
        "KEY_NOT_FOUND": KeyNotFound,
        "INSUFFICIENT_GAS": InsufficientGas,
        "HOLD_RELEASED": HoldClosed,
        "HOLD_EXPIRED": HoldClosed,
    }
    if code in by_code:
        return by_code[code](status, body)
    if status in (401, 403):
        return WalletAuthError(status, body)
    if 400 <= status < 500:
        return InvalidRequest(status, body)
    return BadWalletAnswer(status, body)
