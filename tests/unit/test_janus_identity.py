"""Caller identity: service JWTs (HS256 secret, RS256 via a real JWKS server)
and service-account tokens mapped to Components."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from tawa.janus.identity import Identity, bearer_token, service_account
from tawa.janus.model import Caller, Service
from tawa.refusal import Refusal
from tests.fixtures import janus as keys

SECRET = "unit-secret-0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def rsa_key() -> Any:
    return keys.new_rsa_key()


@pytest.fixture(scope="module")
def jwks_url(rsa_key: Any) -> Iterator[str]:
    server = keys.JwksServer(keys.jwks_document(rsa_key)).start()
    yield server.url
    server.stop()


def identify(identity: Identity, token: str) -> Caller | None:
    return asyncio.run(identity.identify(f"Bearer {token}"))


def refused(identity: Identity, token: str) -> Refusal:
    with pytest.raises(Refusal) as info:
        identify(identity, token)
    assert info.value.status == 401
    return info.value


def test_hs256_token_names_the_caller() -> None:
    identity = Identity(secret=SECRET)
    token = jwt.encode(keys.claims("acme", "quoter"), SECRET, algorithm="HS256")
    assert identify(identity, token) == Caller("acme", "quoter", "jwt")


def test_rs256_token_checked_against_jwks(rsa_key: Any, jwks_url: str) -> None:
    identity = Identity(jwks_url=jwks_url)
    assert identify(identity, keys.rs256(rsa_key, keys.claims("acme", None))) == Caller("acme", None, "jwt")


@pytest.mark.parametrize("case", ["alg-none", "wrong-audience", "expired", "wrong-hmac-key", "wrong-rsa-key",
                                  "hs256-with-public-key", "no-exp", "no-identity", "bad-slug", "garbage"])
def test_bad_tokens_are_refused(case: str, rsa_key: Any, jwks_url: str) -> None:
    # Both key kinds configured: the confusions are only possible when both exist.
    identity = Identity(secret=SECRET, jwks_url=jwks_url)
    good = keys.claims()
    token = {
        "alg-none": lambda: keys.forge(good, "none"),
        "wrong-audience": lambda: jwt.encode(keys.claims(audience="docman"), SECRET, algorithm="HS256"),
        "expired": lambda: jwt.encode(keys.claims(ttl=-10), SECRET, algorithm="HS256"),
        "wrong-hmac-key": lambda: jwt.encode(good, "another-secret-0123456789abcdef01234", algorithm="HS256"),
        "wrong-rsa-key": lambda: keys.rs256(keys.new_rsa_key(), good),
        "hs256-with-public-key": lambda: keys.forge(good, "HS256", keys.public_pem(rsa_key)),
        "no-exp": lambda: jwt.encode({"aud": "janus", "programId": "acme"}, SECRET, algorithm="HS256"),
        "no-identity": lambda: jwt.encode(keys.claims(None, None), SECRET, algorithm="HS256"),
        "bad-slug": lambda: jwt.encode(keys.claims("Not An Org"), SECRET, algorithm="HS256"),
        "garbage": lambda: "not.a.jwt",
    }[case]()
    assert refused(identity, token).code == "INVALID_TOKEN"


def test_public_key_as_hmac_secret_fails_even_with_jwks_only(rsa_key: Any, jwks_url: str) -> None:
    identity = Identity(jwks_url=jwks_url)
    refused(identity, keys.forge(keys.claims(), "HS256", keys.public_pem(rsa_key)))


def test_no_token_is_no_caller_and_a_non_bearer_header_is_refused() -> None:
    identity = Identity(secret=SECRET)
    assert asyncio.run(identity.identify(None)) is None
    with pytest.raises(Refusal):
        asyncio.run(identity.identify("Basic dXNlcjpwYXNz"))
    assert bearer_token("bearer abc") == "abc"


class FakeReviewer:
    """Stands in for the API server's TokenReview in unit tests only (the real one
    is exercised in tests/integration/test_janus_tokenreview.py)."""

    def __init__(self, username: str | None) -> None:
        self.username = username
        self.calls = 0

    async def review(self, token: str, audience: str) -> str | None:
        self.calls += 1
        assert audience == "janus"
        return self.username


def sa_token() -> str:
    claims = {"sub": "system:serviceaccount:docman-prod:quoter", "aud": ["janus"],
              "kubernetes.io": {"namespace": "docman-prod"}}
    return jwt.encode(claims, "kubernetes-signs-this-0123456789abcdef", algorithm="HS256")


def test_service_account_maps_to_component_owner_and_name() -> None:
    quoter = Service("quoter", "docman-prod", "acme", "http://x", ())

    async def lookup(ns: str, name: str) -> Service | None:
        return quoter if (ns, name) == ("docman-prod", "quoter") else None

    reviewer = FakeReviewer("system:serviceaccount:docman-prod:quoter")
    identity = Identity(secret=SECRET, reviewer=reviewer, components=lookup)
    assert identify(identity, sa_token()) == Caller("acme", "quoter", "token-review")
    identify(identity, sa_token())
    assert reviewer.calls == 1  # cached


def test_service_account_without_component_or_review_is_refused() -> None:
    async def nothing(ns: str, name: str) -> None:
        return None

    assert refused(Identity(reviewer=FakeReviewer(None), components=nothing), sa_token()).code == "INVALID_TOKEN"
    unknown = Identity(reviewer=FakeReviewer("system:serviceaccount:x:y"), components=nothing)
    assert refused(unknown, sa_token()).code == "UNKNOWN_SERVICE_ACCOUNT"


def test_service_account_username_parsing() -> None:
    assert service_account("system:serviceaccount:ns:sa") == ("ns", "sa")
    assert service_account("system:serviceaccount:ns") is None
    assert service_account("alice") is None
