"""The few values Janus passes between its parts (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tawa import names
from tawa.gas.pricing import PricedRoute


@dataclass(frozen=True)
class Service:
    """A proxied service: where it lives, who owns it, how its routes are priced."""

    name: str
    namespace: str | None
    owner: str
    upstream: str  # base URL without a trailing slash
    routes: tuple[PricedRoute, ...]

    @property
    def provider_wallet(self) -> str:
        return names.wallet_id(self.owner, "owner")


@dataclass(frozen=True)
class Caller:
    """Who is calling, as proved by a token (never by a header the caller sets)."""

    program_id: str | None
    service_id: str | None
    via: Literal["jwt", "token-review"]
