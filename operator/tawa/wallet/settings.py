"""Wallet settings: environment variables shared by the server, the client and the CLI.

Names are part of the contract (docs/design.md): TAWA_WALLET_TOKEN, TAWA_WALLET_URL,
TAWA_WALLET_OPEN_READS, TAWA_DATA_DIR. The rest (TAWA_WALLET_*) tune the server. Below the
environment, the config file (tawa.settings); an empty variable counts as unset.

On the server, TAWA_WALLET_TOKEN is the admin's credential; TAWA_WALLET_OPERATOR_TOKEN and
TAWA_WALLET_JANUS_TOKEN (optional) are the operator's and Janus's, with only their roles
(docs/wallet-identities.md). Each program presents its own as ITS TAWA_WALLET_TOKEN: the
client setting names whatever credential the program was given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from tawa.settings import DataDir, SharedSettings, TawaSettings
from tawa.wallet.accounts import parse_service_accounts
from tawa.wallet.policy import Role

MAX_BATCH = 1000
MIN_IDEMPOTENCY_HOURS = 24
MAX_BODY_BYTES = 1024 * 1024
ENV_PREFIX = "TAWA_WALLET_"


class ServerSettings(TawaSettings):
    """Everything the HTTP app needs; `from_env` reads them once at start-up."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True)

    data_dir: DataDir
    # SQLite in the data dir: sqlite:///${TAWA_DATA_DIR:-~/.local/share/tawa}/wallet.db
    database_url: str = Field(default_factory=lambda data: f"sqlite:///{data['data_dir'] / 'wallet.db'}")
    token: str | None = None  # the admin's
    operator_token: str | None = None
    janus_token: str | None = None
    # Projected service-account tokens the wallet checks by TokenReview: `ns/sa=role,…`
    # (TAWA_WALLET_SERVICE_ACCOUNTS, roles operator or janus; docs/wallet-identities.md).
    service_accounts: Annotated[Mapping[str, Role], NoDecode] = Field(default_factory=dict)
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
    def from_env(cls, **overrides: Any) -> ServerSettings:
        """The settings, with the flags given (None: not given); ValueError says what to fix, in one line."""
        try:
            return cls(**{k: v for k, v in overrides.items() if v is not None})
        except ValidationError as exc:
            error = exc.errors()[0]
            raise ValueError(str(error.get("ctx", {}).get("error") or error["msg"])) from None

    @field_validator("service_accounts", mode="before")
    @classmethod
    def _accounts(cls, value: Any) -> Any:
        return parse_service_accounts(value) if isinstance(value, str) else value

    @field_validator("open_reads", "insecure_no_auth", "docs", mode="before")
    @classmethod
    def _truthy(cls, value: Any) -> Any:
        """Anything but 1/true/yes/on is off, as it always was: no value is refused."""
        return value.strip().lower() in {"1", "true", "yes", "on"} if isinstance(value, str) else value

    @field_validator("sweep_seconds", "idempotency_hours", "header_timeout", "body_timeout", "max_body_bytes",
                     "auth_failure_limit", "auth_failure_window", mode="before")
    @classmethod
    def _number(cls, value: Any, info: ValidationInfo) -> Any:
        """A number from the environment, whole ones truncated: `TAWA_WALLET_… must be a number` otherwise."""
        if not isinstance(value, str):
            return value
        if not value.strip():
            return cls.model_fields[info.field_name or ""].default
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{ENV_PREFIX}{(info.field_name or '').upper()} must be a number") from None
        return int(number) if info.field_name in {"max_body_bytes", "auth_failure_limit"} else number

    @model_validator(mode="after")
    def _safe(self) -> ServerSettings:
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
        return self


def client_url() -> str:
    return SharedSettings().wallet_url


def client_token() -> str | None:
    return SharedSettings().wallet_token


def client_token_file() -> str | None:
    return SharedSettings().wallet_token_file
