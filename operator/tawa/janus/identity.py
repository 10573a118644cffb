"""Caller identity: service JWTs and Kubernetes service-account tokens.

- Service JWTs: HS256 with TAWA_JANUS_JWT_SECRET, or RS256/ES256 with keys from
  TAWA_JANUS_JWKS_URL. The algorithm list is fixed per key type, so neither
  `alg: none` nor an HS256 token signed with a public key can pass. `aud`
  must be `janus`; `exp` is required and must be a number no further ahead
  than the maximum lifetime (TAWA_JANUS_JWT_MAX_LIFETIME), as must `iat`
  when present; `iss` must match TAWA_JANUS_JWT_ISSUER when that is set.
  Claims: `programId` (an org slug: the org that pays), `serviceId`.
- Projected service-account tokens (audience `janus`) are checked with the
  API server's TokenReview. The operator gives each Component a ServiceAccount
  named after it, so `system:serviceaccount:{ns}:{sa}` is Component {ns}/{sa}:
  its owner is the programId and its name the serviceId.

Verified tokens are cached until they expire (at most `cache_seconds`), so the
hot path pays for a signature check only once per token.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import jwt

from tawa import names
from tawa.cache import LruCache
from tawa.janus.model import Caller, Service
from tawa.refusal import Refusal

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

log = logging.getLogger("tawa.janus.identity")

SA_PREFIX = "system:serviceaccount:"
# Fixed per key type: the token's header never chooses how it is checked.
JWKS_ALGORITHMS = {"RSA": ["RS256"], "EC": ["ES256"]}
HMAC_ALGORITHMS = ["HS256"]
MAX_CACHE = 50_000

ComponentLookup = Callable[[str, str], Awaitable[Service | None]]


class TokenReviewer(Protocol):
    async def review(self, token: str, audience: str) -> str | None:
        """The authenticated username for `token`, or None if the API server refuses it."""


def _invalid(why: str) -> Refusal:
    return Refusal(401, "INVALID_TOKEN", f"The service token was refused: {why}; send a current token "
                   "with audience 'janus' signed by a key Janus trusts.")


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def caller_from_claims(claims: dict[str, Any]) -> Caller:
    program, service = claims.get("programId"), claims.get("serviceId")
    if program is not None and not names.is_org(program):
        raise _invalid(f"claim programId must be {names.ORG_RULE}")
    if service is not None and not names.is_dns_label(service):
        raise _invalid("claim serviceId must be a service name (a DNS label)")
    if not program and not service:
        raise _invalid("it names neither programId nor serviceId")
    return Caller(program_id=program, service_id=service, via="jwt")


def service_account(username: str) -> tuple[str, str] | None:
    """`system:serviceaccount:ns:sa` → (ns, sa)."""
    if not username.startswith(SA_PREFIX):
        return None
    ns, _, sa = username[len(SA_PREFIX):].partition(":")
    return (ns, sa) if ns and sa and ":" not in sa else None


def _looks_like_service_account(token: str) -> bool:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    return str(claims.get("sub", "")).startswith(SA_PREFIX) or "kubernetes.io" in claims


class Identity:
    def __init__(
        self,
        *,
        audience: str = "janus",
        secret: str | None = None,
        jwks_url: str | None = None,
        reviewer: TokenReviewer | None = None,
        components: ComponentLookup | None = None,
        cache_seconds: float = 300.0,
        max_lifetime: float = 86_400.0,
        issuer: str | None = None,
        cache_size: int = MAX_CACHE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.audience, self.secret = audience, secret
        self.max_lifetime, self.issuer, self._clock = max_lifetime, issuer, clock
        self._jwks = jwt.PyJWKClient(jwks_url, cache_jwk_set=True, lifespan=300, timeout=5) if jwks_url else None
        self._reviewer, self._components = reviewer, components
        self._cache_seconds = cache_seconds
        self._cache: LruCache[str, tuple[Caller, float]] = LruCache(cache_size)

    async def identify(self, authorization: str | None) -> Caller | None:
        """The proven caller, None without a token; raises Refusal(401) for a bad token."""
        token = bearer_token(authorization)
        if token is None:
            if authorization:
                raise _invalid("the Authorization header is not 'Bearer <token>'")
            return None
        cached = self._cache.get(token)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        caller, lifetime = await self._verify(token)
        self._cache.put(token, (caller, now + min(lifetime, self._cache_seconds)))
        return caller

    async def _verify(self, token: str) -> tuple[Caller, float]:
        if self._reviewer is not None and _looks_like_service_account(token):
            return await self._review(token)
        claims = self._check_times(await self._decode(token))
        return caller_from_claims(claims), float(claims["exp"]) - self._clock()

    async def _decode(self, token: str) -> dict[str, Any]:
        try:
            alg = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError as exc:
            raise _invalid(f"not a JWT ({exc})") from None
        if alg in HMAC_ALGORITHMS and self.secret:
            key: Any = self.secret
            algorithms = HMAC_ALGORITHMS
        elif self._jwks is not None and alg not in HMAC_ALGORITHMS and alg not in (None, "none"):
            key, algorithms = await self._jwks_key(token)
        else:
            raise _invalid(f"algorithm {alg!r} is not accepted")
        try:
            return jwt.decode(token, key, algorithms=algorithms, audience=self.audience, issuer=self.issuer,
                              options={"require": ["exp", "aud", *(["iss"] if self.issuer else [])]})
        except jwt.ExpiredSignatureError:
            raise _invalid("it has expired") from None
        except jwt.InvalidAudienceError:
            raise _invalid(f"its audience is not {self.audience!r}") from None
        except jwt.InvalidIssuerError:
            raise _invalid("its issuer is not the one Janus trusts") from None
        except jwt.PyJWTError as exc:
            raise _invalid(str(exc).rstrip(".")) from None

    def _check_times(self, claims: dict[str, Any]) -> dict[str, Any]:
        """`exp` and `iat` are numbers (PyJWT would take the string "9999999999"), and a token may
        not live longer than `max_lifetime`: a leaked long-lived token is a standing key to a wallet."""
        for name in ("exp", "iat"):
            value = claims.get(name)
            if name in claims and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise _invalid(f"claim {name} must be a number of seconds since the epoch")
        now = self._clock()
        start = min(float(claims.get("iat", now)), now)
        if float(claims["exp"]) - start > self.max_lifetime:
            raise _invalid(f"it lives longer than the {self.max_lifetime:.0f} s Janus accepts; "
                           "mint a shorter-lived token")
        return claims

    async def _jwks_key(self, token: str) -> tuple[Any, list[str]]:
        assert self._jwks is not None
        try:
            # PyJWKClient fetches over urllib (blocking) when its cache misses.
            signing = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
        except jwt.PyJWKClientError as exc:
            raise _invalid(f"no trusted key for it ({exc})") from None
        algorithms = JWKS_ALGORITHMS.get(signing.key_type or "")
        if algorithms is None:
            raise _invalid(f"the JWKS key type {signing.key_type!r} is not accepted")
        return signing.key, algorithms

    async def _review(self, token: str) -> tuple[Caller, float]:
        assert self._reviewer is not None
        username = await self._reviewer.review(token, self.audience)
        if username is None:
            raise _invalid("the Kubernetes API server did not authenticate it for audience "
                           f"{self.audience!r}")
        account = service_account(username)
        if account is None:
            raise _invalid(f"{username!r} is not a service account")
        component = await self._components(*account) if self._components else None
        if component is None:
            ns, sa = account
            raise Refusal(401, "UNKNOWN_SERVICE_ACCOUNT", f"Service account {ns}/{sa} belongs to no Component; "
                          "call from a pod of a deployed Component (its service account has its name).")
        # Projected tokens are short-lived and may be revoked with their pod: re-review often.
        return Caller(program_id=component.owner, service_id=component.name, via="token-review"), 60.0


class KubeTokenReviewer:
    """TokenReview through `tawa.kube` (blocking calls run in a thread)."""

    def __init__(self, api_client: ApiClient) -> None:
        self._api = api_client

    async def review(self, token: str, audience: str) -> str | None:
        from tawa.kube.tokenreview import review

        try:
            status = await asyncio.to_thread(review, self._api, token, audience)
        except Exception as exc:  # noqa: BLE001 — any failure to ask is ours, not the caller's
            log.error("TokenReview failed: %s", exc)
            raise Refusal(503, "IDENTITY_UNAVAILABLE", "Janus could not reach the Kubernetes API to check the "
                          "service-account token; retry shortly.") from None
        if not status.get("authenticated") or audience not in (status.get("audiences") or [audience]):
            return None
        username: str | None = (status.get("user") or {}).get("username")
        return username
