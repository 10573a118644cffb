"""TokenReview: whom the API server says a token belongs to."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from tawa.kube import call

TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"


def review(api: client.ApiClient, token: str, audience: str, timeout: float | None = None) -> dict[str, Any]:
    """The review's status: `authenticated`, `audiences`, `user.username` (blocking, at most
    `timeout` seconds when given)."""
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
            "spec": {"token": token, "audiences": [audience]}}
    status: dict[str, Any] = call(api, "POST", TOKEN_REVIEWS, body, request_timeout=timeout).get("status") or {}
    return status
