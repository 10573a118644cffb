"""kopf's API session with a bounded connection pool.

kopf's own session opens a new TLS connection for every concurrent request
(its connector has no limit), and asyncio gives each TLS connection a 256 KiB
read buffer: a burst of 1,000 new Components held ~900 connections and ~240 MB
at once (measured with memray). The same credentials through a pool of
`REQUEST_CONNECTIONS` plus one per watch stream keep the burst's memory flat;
requests beyond the pool wait for a free connection instead.

The credentials are every Tawa program's (`tawa.kube.configuration`), not
kopf's own choice, which tries in-cluster first: kopf's watches and the
operator's writes reach the same cluster.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import kopf
from kubernetes import client

from tawa.controller.context import context_of
from tawa.kube import NoCluster, configuration

REQUEST_CONNECTIONS = 32
# Long-lived watch streams each hold a connection: Components and Deployments,
# per namespace when the operator watches a list of them, plus peering.
STREAMS_PER_NAMESPACE = 3


def connection_limit(namespaces: int) -> int:
    """Connections for kopf's session: requests, plus every watch stream it may hold."""
    return REQUEST_CONNECTIONS + STREAMS_PER_NAMESPACE * max(1, namespaces) + 2


def connection_info(loaded: client.Configuration, trust_env: bool) -> kopf.ConnectionInfo:
    """The client's credentials as kopf's, read as `kopf.login_via_client` reads them."""
    # The token is read through the client's hook, which refreshes a rotated in-cluster token.
    header = loaded.get_api_key_with_prefix("BearerToken") or loaded.get_api_key_with_prefix("authorization") or ""
    scheme, _, token = header.partition(" ") if " " in header else ("", "", header)  # RFC 7235: [scheme] token
    return kopf.ConnectionInfo(server=loaded.host, ca_path=loaded.ssl_ca_cert, insecure=not loaded.verify_ssl,
                               username=loaded.username or None, password=loaded.password or None,
                               scheme=scheme or None, token=token or None, certificate_path=loaded.cert_file,
                               private_key_path=loaded.key_file, trust_env=trust_env)


@kopf.on.login()
async def login(*, memo: kopf.Memo, settings: kopf.OperatorSettings, **_: Any) -> kopf.AiohttpSession:
    """`tawa.kube.configuration`'s credentials, in a session with a bounded pool."""
    try:
        info = connection_info(configuration(), settings.networking.trust_env)
    except NoCluster as exc:
        raise kopf.LoginError(str(exc)) from None
    watched = len(context_of(memo).namespaces)
    connector = aiohttp.TCPConnector(limit=connection_limit(watched), ssl=info.as_ssl_context())
    session = aiohttp.ClientSession(connector=connector, headers=info.as_http_headers(), trust_env=info.trust_env)
    return kopf.AiohttpSession(server=info.server, default_namespace=info.default_namespace,
                               priority=info.priority, expiration=info.expiration, aiohttp_session=session)
