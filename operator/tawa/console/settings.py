"""The console's settings: flags > TAWA_CONSOLE_* > the config file > defaults (tawa.settings)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tawa import defaults
from tawa.settings import TawaSettings

CONSOLE_PORT = 8090


class ConsoleSettings(TawaSettings):
    model_config = SettingsConfigDict(env_prefix="TAWA_CONSOLE_", env_ignore_empty=True, frozen=True)

    wallet_url: str = defaults.WALLET_URL
    # The cluster the Components page reads (read-only); "" = KUBECONFIG or in-cluster; None = not connected.
    kubeconfig: str | None = None
    host: str = "127.0.0.1"
    port: int = CONSOLE_PORT
    # Served behind TLS: the session cookie is sent over HTTPS only.
    secure_cookies: bool = False
    session_seconds: int = Field(3600, ge=60)  # a session ends this long after login
    max_sessions: int = Field(10_000, ge=1)  # the oldest session is dropped past this
    login_failure_limit: int = Field(10, ge=1)  # failed logins per source within the window, then 429
    login_failure_window: float = Field(300.0, gt=0)
