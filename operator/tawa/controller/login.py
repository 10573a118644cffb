"""kopf's API session with a bounded connection pool.

kopf's own session opens a new TLS connection for every concurrent request
(its connector has no limit), and asyncio gives each TLS connection a 256 KiB
read buffer: a burst of 1,000 new Components held ~900 connections and ~240 MB
at once (measured with memray). The same credentials through a pool of
`REQUEST_CONNECTIONS` plus one per watch stream keep the burst's memory flat;
requests beyond the pool wait for a free connection instead.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import kopf

from tawa.controller.context import context_of

REQUEST_CONNECTIONS = 32
# Long-lived watch streams each hold a connection: Components and Deployments,
# per namespace when the operator watches a list of them, plus peering.
STREAMS_PER_NAMESPACE = 3


def connection_limit(namespaces: int) -> int:
    """Connections for kopf's session: requests, plus every watch stream it may hold."""
    return REQUEST_CONNECTIONS + STREAMS_PER_NAMESPACE * max(1, namespaces) + 2


@kopf.on.login()
async def login(memo: kopf.Memo, **kwargs: Any) -> kopf.AiohttpSession | None:
    """kopf's usual credentials (kubeconfig or in-cluster), in a session with a bounded pool."""
    info = kopf.login_via_client(memo=memo, **kwargs)
    if info is None:
        return None
    watched = len(context_of(memo).namespaces)
    connector = aiohttp.TCPConnector(limit=connection_limit(watched), ssl=info.as_ssl_context())
    session = aiohttp.ClientSession(connector=connector, headers=info.as_http_headers(), trust_env=info.trust_env)
    return kopf.AiohttpSession(server=info.server, default_namespace=info.default_namespace,
                               priority=info.priority, expiration=info.expiration, aiohttp_session=session)
