"""Operator settings, from TAWA_* environment variables (then the config file: tawa.settings)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tawa import defaults
from tawa.catalog.env import DEFAULT_PLATFORM_SERVICES
from tawa.settings import TawaSettings


class OperatorSettings(TawaSettings):
    model_config = SettingsConfigDict(env_prefix="TAWA_")

    env: str = Field("prod", description="Platform environment: {service}-{env} namespaces, janus-{env}.")
    wallet_url: str = defaults.WALLET_URL
    wallet_token: str = ""
    wallet_token_file: str = Field("", description=(
        "File holding the wallet credential, re-read when it changes (a projected service-account "
        "token in a cluster); used instead of TAWA_WALLET_TOKEN when set."))
    hosting_period: float = Field(3600.0, gt=0, description="Seconds per hosting bucket ('hour').")
    gate_poll_interval: float = Field(2.0, gt=0, description=(
        "Seconds between reads of the wallet of each org with a closed deploy gate: a purchase opens "
        "the gate within one."))
    gate_retry_max: float = Field(60.0, gt=0, description=(
        "Cap of the backoff, seconds, while an org's wallet cannot be reached for a closed gate."))
    platform_services: tuple[str, ...] = DEFAULT_PLATFORM_SERVICES
    catch_up_buckets: int = Field(24, ge=1)
    suspend_after: float = Field(0.0, ge=0, description=(
        "Seconds a Component's hosting may stay unpaid before its Deployment is scaled to 0 "
        "until paid; 0 (the default) never suspends."))
