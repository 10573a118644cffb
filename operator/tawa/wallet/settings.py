"""Wallet settings: environment variables shared by the server, the client and the CLI.

Names are part of the contract (DESIGN.md): TAWA_WALLET_TOKEN, TAWA_WALLET_URL,
TAWA_WALLET_OPEN_READS, TAWA_DATA_DIR. The rest tune the server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8081"
DEFAULT_PORT = 8081
INTRO_GRANT = 50_000
MAX_TOKENS = 2**53  # largest integer every JSON reader keeps exact
MAX_BATCH = 1000
MIN_IDEMPOTENCY_HOURS = 24


def data_dir() -> Path:
    """`${TAWA_DATA_DIR:-~/.local/share/tawa}`."""
    return Path(os.environ.get("TAWA_DATA_DIR") or Path.home() / ".local" / "share" / "tawa")


def default_database_url() -> str:
    return f"sqlite:///{data_dir() / 'wallet.db'}"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class ServerSettings:
    """Everything the HTTP app needs; `from_env` reads the environment once at start-up."""

    database_url: str = field(default_factory=default_database_url)
    token: str | None = None
    open_reads: bool = False
    insecure_no_auth: bool = False
    # Abandoned holds are expired by this periodic sweep as well as lazily on access.
    sweep_seconds: float = 5.0
    # Idempotency keys are kept at least 24 hours (DESIGN.md); older ones are swept.
    idempotency_hours: float = 72.0
    default_hold_ttl: int = 300

    @classmethod
    def from_env(cls, **overrides: object) -> ServerSettings:
        env = os.environ
        values: dict[str, object] = {
            "database_url": env.get("TAWA_WALLET_DATABASE_URL") or default_database_url(),
            "token": env.get("TAWA_WALLET_TOKEN") or None,
            "open_reads": _truthy(env.get("TAWA_WALLET_OPEN_READS")),
            "insecure_no_auth": _truthy(env.get("TAWA_WALLET_INSECURE_NO_AUTH")),
            "sweep_seconds": float(env.get("TAWA_WALLET_SWEEP_SECONDS", "5")),
            "idempotency_hours": float(env.get("TAWA_WALLET_IDEMPOTENCY_HOURS", "72")),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        if self.idempotency_hours < MIN_IDEMPOTENCY_HOURS:
            raise ValueError(f"TAWA_WALLET_IDEMPOTENCY_HOURS must be at least {MIN_IDEMPOTENCY_HOURS}")
        if not self.token and not self.insecure_no_auth:
            raise ValueError(
                "TAWA_WALLET_TOKEN is not set: refusing to start a wallet anyone could spend from; "
                "set TAWA_WALLET_TOKEN, or pass --insecure-no-auth for a throwaway local wallet"
            )


def client_url() -> str:
    return os.environ.get("TAWA_WALLET_URL") or DEFAULT_URL


def client_token() -> str | None:
    return os.environ.get("TAWA_WALLET_TOKEN") or None
