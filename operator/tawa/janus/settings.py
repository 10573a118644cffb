"""Janus settings, read from the environment (prefix TAWA_JANUS_) and the CLI flags.

The wallet's own names are shared with the other programs (docs/design.md): TAWA_WALLET_URL,
TAWA_WALLET_TOKEN (or TAWA_WALLET_TOKEN_FILE), TAWA_DATA_DIR; below the environment, the config
file (tawa.settings).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import SettingsConfigDict

from tawa import defaults
from tawa.catalog.env import JANUS_PORT
from tawa.settings import DataDir, TawaSettings


class JanusSettings(TawaSettings):
    model_config = SettingsConfigDict(env_prefix="TAWA_JANUS_", frozen=True)

    host: str = "0.0.0.0"
    port: int = Field(JANUS_PORT, ge=0, le=65535)
    # One process per core shares the port with SO_REUSEPORT; each keeps its own holds.
    workers: int = Field(1, ge=1, le=64)

    wallet_url: str = Field(
        defaults.WALLET_URL, validation_alias=AliasChoices("TAWA_WALLET_URL", "wallet_url")
    )
    wallet_token: str | None = Field(
        None, validation_alias=AliasChoices("TAWA_WALLET_TOKEN", "wallet_token"), repr=False
    )
    wallet_token_file: str | None = Field(
        None, validation_alias=AliasChoices("TAWA_WALLET_TOKEN_FILE", "wallet_token_file"),
        description="file holding the wallet credential, re-read when it changes; wins over TAWA_WALLET_TOKEN",
    )
    wallet_timeout: float = Field(2.0, gt=0, description="seconds before the wallet counts as unreachable")

    # Registry: a file of Component YAML documents, else the cluster's Components.
    registry: Path | None = None
    kubeconfig: str | None = None
    env: str | None = Field(None, validation_alias=AliasChoices("TAWA_JANUS_ENV", "TAWA_ENV", "env"),
                            description="environment name: prefer namespace {service}-{env}")
    registry_ttl: float = Field(60.0, ge=0, description="seconds a lookup (found or not) is cached")
    # Keys of Janus's caches come from requests: each cache keeps at most this many entries.
    cache_size: int = Field(10_000, ge=1, description="entries per cache (lookups, grants, verified tokens)")
    platform_prices: Path | None = None

    # Caller identity.
    jwt_secret: str | None = Field(None, repr=False)
    jwks_url: str | None = None
    jwt_audience: str = "janus"
    jwt_issuer: str | None = Field(None, description="when set, a service JWT's iss must be this")
    jwt_max_lifetime: float = Field(
        86_400.0, gt=0, description="seconds a service JWT may live (exp - iat, or exp - now)"
    )
    token_review: bool | None = Field(
        None, description="check Kubernetes service-account tokens (default: on with a cluster registry)"
    )

    # Upstream calls.
    upstream_timeout: float = Field(30.0, gt=0, description="seconds to wait for upstream data → 504")
    upstream_connect_timeout: float = Field(5.0, gt=0)
    upstream_pool_size: int = Field(256, ge=1, description="keep-alive connections per worker")

    # Callers: a connection that trickles its request holds a socket and a worker slot.
    header_timeout: float = Field(
        10.0, gt=0, description="seconds a caller has to send a request's headers, from the connection's "
        "opening or, on a kept-alive connection, from the next request's first byte → 408 and closed"
    )
    body_timeout: float = Field(
        30.0, gt=0, description="seconds a request body may stall between two reads → 408 and not charged"
    )

    # Metering.
    hold_ttl: int = Field(120, ge=5, description="seconds a pre-authorised hold lives")
    hold_chunk: int = Field(100, ge=1, description="first hold taken for an org, in tokens")
    hold_chunk_max: int = Field(5000, ge=1, description="largest hold taken for an org, in tokens")
    hold_idle: float = Field(30.0, gt=0, description="seconds an unused hold is kept before it is released")
    # Charges wait in the journal meanwhile, so a longer interval risks nothing on a crash;
    # it only delays gas events and makes batches larger (cheaper per charge).
    settle_interval: float = Field(0.1, gt=0, description="seconds between settlement batches")
    # Bounded so that building or reading one batch never holds the event loop for long.
    settle_batch: int = Field(250, ge=1, le=1000)
    grants_ttl: float = Field(30.0, ge=0, description="seconds bill grants are cached")
    fail_open_cap: int = Field(
        1000, ge=0, description="per-org tokens of unbilled usage allowed while the wallet is down"
    )
    wallet_retry: float = Field(1.0, gt=0, description="seconds between wallet retries when it is down")
    data_dir: DataDir
    spool_path: Path | None = None

    log_level: str = "INFO"
    access_log: bool = False

    @model_validator(mode="after")
    def _chunks_ordered(self) -> JanusSettings:
        if self.hold_chunk > self.hold_chunk_max:
            raise ValueError("TAWA_JANUS_HOLD_CHUNK must not exceed TAWA_JANUS_HOLD_CHUNK_MAX")
        if self.hold_ttl < self.hold_margin + 5:
            raise ValueError(f"TAWA_JANUS_HOLD_TTL must be at least {self.hold_margin + 5:.0f} s: a hold must "
                             "outlive the upstream timeout and the settlement of its last call")
        return self

    @property
    def hold_margin(self) -> float:
        """Seconds before expiry a hold stops taking calls: one may still be upstream, then settled."""
        return self.upstream_timeout + 2 * self.wallet_timeout + self.settle_interval + 1

    @property
    def spool_file(self) -> Path:
        return self.spool_path or self.data_dir / "janus-spool.db"

    @property
    def uses_token_review(self) -> bool:
        return self.token_review if self.token_review is not None else self.registry is None
