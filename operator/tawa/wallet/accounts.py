"""Service-account credentials: in a cluster the operator and Janus present projected
Kubernetes tokens (audience `tawa-wallet`), which the API server's TokenReview vouches for
(docs/wallet-identities.md).

TAWA_WALLET_SERVICE_ACCOUNTS names the accounts and their roles, `ns/sa=role` separated by
commas, e.g. `tawa-system/tawa-operator=operator,janus-prod/tawa-janus=janus`; only the
`operator` and `janus` roles can be given: no service account is ever the admin.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from tawa import names
from tawa.cache import TtlCache
from tawa.wallet.policy import Identity, Role

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

log = logging.getLogger("tawa.wallet.accounts")

SETTING = "TAWA_WALLET_SERVICE_ACCOUNTS"
AUDIENCE = "tawa-wallet"
SA_PREFIX = "system:serviceaccount:"
ROLES = {Role.OPERATOR.value: Role.OPERATOR, Role.JANUS.value: Role.JANUS}
CACHE_SECONDS = 30.0  # a revoked token (its pod deleted) is refused within this long
CACHE_SIZE = 10_000
REVIEW_TIMEOUT = 5.0  # seconds the API server has to answer a TokenReview
MAX_TOKEN_BYTES = 16_384


class ReviewUnavailable(RuntimeError):
    """The API server could not be asked: the caller gets 503, not 401."""


def parse_service_accounts(raw: str) -> dict[str, Role]:
    """`ns/sa=role,…` → {username `system:serviceaccount:ns:sa`: role}; ValueError naming the setting."""
    accounts: dict[str, Role] = {}
    for entry in filter(None, (part.strip() for part in raw.split(","))):
        account, _, role = entry.partition("=")
        ns, _, sa = account.strip().partition("/")
        if not (names.is_dns_label(ns) and names.is_dns_label(sa)) or role.strip() not in ROLES:
            raise ValueError(f"{SETTING}: {entry!r} is not NAMESPACE/SERVICEACCOUNT=ROLE with ROLE operator or "
                             "janus (e.g. tawa-system/tawa-operator=operator,janus-prod/tawa-janus=janus)")
        accounts[f"{SA_PREFIX}{ns}:{sa}"] = ROLES[role.strip()]
    return accounts


def _looks_like_jwt(token: str) -> bool:
    """Cheap shape check: other strings are refused without asking the API server."""
    return len(token) <= MAX_TOKEN_BYTES and token.count(".") == 2


class ServiceAccounts:
    """Who a projected token belongs to, by TokenReview (a blocking call, run in a thread and
    bounded by REVIEW_TIMEOUT); answers, refusals included, are cached CACHE_SECONDS by the
    token's hash, at most CACHE_SIZE of them, one review in flight per token."""

    def __init__(self, accounts: Mapping[str, Role], api: ApiClient, ttl: float = CACHE_SECONDS) -> None:
        self.accounts, self.api = dict(accounts), api
        self.cache = TtlCache(ttl, size=CACHE_SIZE)
        self.reviews = 0  # TokenReviews asked for (the cache's misses)

    @classmethod
    def from_cluster(cls, accounts: Mapping[str, Role]) -> ServiceAccounts:
        from tawa.kube import api_client

        return cls(accounts, api_client(pool_size=8))

    async def identify(self, token: str) -> Identity | None:
        """The mapped role's identity; None for a token the API server does not vouch for (for
        audience `tawa-wallet`) or an account not named; ReviewUnavailable when it cannot be asked."""
        if not _looks_like_jwt(token):
            return None
        key = hashlib.sha256(token.encode()).digest()
        identity: Identity | None = await self.cache.get(key, lambda: self._review(token))
        return identity

    async def _review(self, token: str) -> Identity | None:
        from tawa.kube.tokenreview import review

        self.reviews += 1
        try:
            status = await asyncio.to_thread(review, self.api, token, AUDIENCE, REVIEW_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 — any failure to ask is the wallet's, not the caller's
            log.error("TokenReview failed: %s", exc)
            raise ReviewUnavailable(str(exc)) from None
        if not status.get("authenticated") or AUDIENCE not in (status.get("audiences") or []):
            return None
        role = self.accounts.get(str((status.get("user") or {}).get("username", "")))
        return Identity(role) if role else None
