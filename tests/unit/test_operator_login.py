"""The operator's kopf session: the usual credentials, a bounded connection pool."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import kopf
import pytest
import yaml

from tawa.controller import login
from tawa.controller.context import OperatorContext, memo_for
from tawa.controller.settings import OperatorSettings

KUBECONFIG = {
    "apiVersion": "v1", "kind": "Config", "current-context": "c",
    "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:6443", "insecure-skip-tls-verify": True}}],
    "users": [{"name": "u", "user": {"token": "secret-token"}}],
    "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
}


def test_the_pool_leaves_room_for_every_watch_stream_beside_the_requests() -> None:
    clusterwide = login.connection_limit(0)
    assert clusterwide > login.REQUEST_CONNECTIONS + login.STREAMS_PER_NAMESPACE
    assert login.connection_limit(20) - login.connection_limit(1) == 19 * login.STREAMS_PER_NAMESPACE


def test_login_keeps_the_kubeconfig_credentials_in_a_bounded_session(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(KUBECONFIG))
    monkeypatch.setenv("KUBECONFIG", str(path))

    async def log_in() -> tuple[str, str, int]:
        memo = memo_for(OperatorContext.from_settings(OperatorSettings()))  # the whole cluster: no namespaces
        context = await login.login(logger=logging.getLogger("test"), settings=kopf.OperatorSettings(), memo=memo)
        assert isinstance(context, kopf.AiohttpSession)
        session = context.aiohttp_session
        try:
            return context.server, session.headers["Authorization"], session.connector.limit  # type: ignore[union-attr]
        finally:
            await session.close()

    server, authorization, limit = asyncio.run(log_in())
    assert server == "https://127.0.0.1:6443"
    assert authorization == "Bearer secret-token"
    assert limit == login.connection_limit(0)
