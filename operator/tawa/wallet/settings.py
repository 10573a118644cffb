"""Wallet settings: environment variables shared by the server, the client and the CLI.

Names are part of the contract (docs/design.md): TAWA_WALLET_TOKEN, TAWA_WALLET_URL,
TAWA_WALLET_OPEN_READS, TAWA_DATA_DIR. The rest tune the server.

On the server, TAWA_WALLET_TOKEN is the admin's credential; TAWA_WALLET_OPERATOR_TOKEN and
TAWA_WALLET_JANUS_TOKEN (optional) are the operator's and Janus's, with only their roles
(docs/wallet-identities.md). Each program presents its own as ITS TAWA_WALLET_TOKEN: the
client setting names whatever credential the program was given.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tawa.wallet.accounts import parse_service_accounts
from tawa.wallet.policy import Role

DEFAULT_URL = "http://127.0.0.1:8081"
DEFAULT_PORT = 8081
INTRO_GRANT = 50_000
MAX_TOKENS = 2**53  # largest integer every JSON reader keeps exact
MAX_BATCH = 1000
MIN_IDEMPOTENCY_HOURS = 24
MAX_BODY_BYTES = 1024 * 1024


def data_dir() -> Path:
    """`${TAWA_DATA_DIR:-~/.local/share/tawa}`."""
    return Path(os.environ.get("TAWA_DATA_DIR") or Path.home() / ".local" / "share" / "tawa")


def default_database_url() -> str:
    return f"sqlite:///{data_dir() / 'wallet.db'}"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number") from None


@dataclass(frozen=True)
class ServerSettings:
    """Everything the HTTP app needs; `from_env` reads the environment once at start-up."""

    database_url: str = field(default_factory=default_database_url)
    token: str | None = None  # the admin's
    operator_token: str | None = None
    janus_token: str | None = None
    # TAWA_WALLET_SERVICE_ACCOUNTS: Kubernetes service accounts and their roles (tawa.wallet.accounts).
    service_accounts: Mapping[str, Role] = field(default_factory=dict)
    open_reads: bool = False
    insecure_no_auth: bool = False
    # Abandoned holds are expired by this periodic sweep as well as lazily on access.
    sweep_seconds: float = 5.0
    # Idempotency keys are kept at least 24 hours (docs/design.md); older ones are swept.
    idempotency_hours: float = 72.0
    # A client must finish its request line and headers within this many seconds of
    # connecting (or of starting its next request), and its body within body_timeout of
    # the headers: a socket that trickles bytes cannot hold a connection slot for long.
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    # Larger bodies are refused (413) from their Content-Length, before they are read.
    max_body_bytes: int = MAX_BODY_BYTES
    # /docs and /redoc (Swagger UI, ReDoc) are off unless asked for; /openapi.json is always served.
    docs: bool = False
    # Past this many failed authentications from one source within auth_failure_window seconds,
    # the source gets 429 (Retry-After) until the window ends (tawa.wallet.throttle).
    auth_failure_limit: int = 50
    auth_failure_window: float = 60.0

    @classmethod
    def from_env(cls, **overrides: object) -> ServerSettings:
        env = os.environ
        values: dict[str, object] = {
            "database_url": env.get("TAWA_WALLET_DATABASE_URL") or default_database_url(),
            "token": env.get("TAWA_WALLET_TOKEN") or None,
            "operator_token": env.get("TAWA_WALLET_OPERATOR_TOKEN") or None,
            "janus_token": env.get("TAWA_WALLET_JANUS_TOKEN") or None,
            "service_accounts": parse_service_accounts(env.get("TAWA_WALLET_SERVICE_ACCOUNTS") or ""),
            "open_reads": _truthy(env.get("TAWA_WALLET_OPEN_READS")),
            "insecure_no_auth": _truthy(env.get("TAWA_WALLET_INSECURE_NO_AUTH")),
            "sweep_seconds": _number("TAWA_WALLET_SWEEP_SECONDS", 5.0),
            "idempotency_hours": _number("TAWA_WALLET_IDEMPOTENCY_HOURS", 72.0),
            "header_timeout": _number("TAWA_WALLET_HEADER_TIMEOUT", 10.0),
            "body_timeout": _number("TAWA_WALLET_BODY_TIMEOUT", 30.0),
            "max_body_bytes": int(_number("TAWA_WALLET_MAX_BODY_BYTES", MAX_BODY_BYTES)),
            "docs": _truthy(env.get("TAWA_WALLET_DOCS")),
            "auth_failure_limit": int(_number("TAWA_WALLET_AUTH_FAILURE_LIMIT", 50)),
            "auth_failure_window": _number("TAWA_WALLET_AUTH_FAILURE_WINDOW", 60.0),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        if self.idempotency_hours < MIN_IDEMPOTENCY_HOURS:
            raise ValueError(f"TAWA_WALLET_IDEMPOTENCY_HOURS must be at least {MIN_IDEMPOTENCY_HOURS}")
        for name, value in (("TAWA_WALLET_HEADER_TIMEOUT", self.header_timeout),
                            ("TAWA_WALLET_BODY_TIMEOUT", self.body_timeout),
                            ("TAWA_WALLET_MAX_BODY_BYTES", self.max_body_bytes),
                            ("TAWA_WALLET_AUTH_FAILURE_LIMIT", self.auth_failure_limit),
                            ("TAWA_WALLET_AUTH_FAILURE_WINDOW", self.auth_failure_window)):
            if not value > 0:
                raise ValueError(f"{name} must be a positive number")
        if not self.token and not self.insecure_no_auth:
            raise ValueError(
                "TAWA_WALLET_TOKEN is not set: refusing to start a wallet anyone could spend from; "
                "set TAWA_WALLET_TOKEN, or pass --insecure-no-auth for a throwaway local wallet"
            )
        given = [t for t in (self.token, self.operator_token, self.janus_token) if t]
        if len(set(given)) != len(given):
            raise ValueError("TAWA_WALLET_TOKEN, TAWA_WALLET_OPERATOR_TOKEN and TAWA_WALLET_JANUS_TOKEN must differ: "
                             "a program's token would otherwise carry another role's rights")


def client_url() -> str:
    return os.environ.get("TAWA_WALLET_URL") or DEFAULT_URL


def client_token() -> str | None:
    return os.environ.get("TAWA_WALLET_TOKEN") or None


def client_token_file() -> str | None:
    return os.environ.get("TAWA_WALLET_TOKEN_FILE") or None
