"""Service JWTs for the dev stack's Janus (pure): what a service presents as
`Authorization: Bearer …`, HS256-signed with the stack's TAWA_JANUS_JWT_SECRET.

Claims: `programId` (the caller's org, which pays), `serviceId` (the calling
service), `aud: janus`, `iat` and `exp` — Janus refuses a token that lives longer
than TAWA_JANUS_JWT_MAX_LIFETIME (a day by default)."""

from __future__ import annotations

from typing import Any

AUDIENCE = "janus"
ALGORITHM = "HS256"
DEFAULT_LIFETIME = 3600
MAX_LIFETIME = 86_400  # Janus's default TAWA_JANUS_JWT_MAX_LIFETIME


def service_claims(org: str, service: str, now: int, lifetime: int = DEFAULT_LIFETIME) -> dict[str, Any]:
    return {"programId": org, "serviceId": service, "aud": AUDIENCE, "iat": now, "exp": now + lifetime}


def service_token(secret: str, claims: dict[str, Any]) -> str:
    import jwt  # not at import time: every `tawa` command loads this module for its defaults

    return jwt.encode(claims, secret, algorithm=ALGORITHM)
