"""An httpx transport over aiohttp, for the shared wallet client inside Janus.

`tawa.wallet.client.AsyncWalletClient` speaks httpx; its default transport
(httpcore on anyio) costs about a millisecond of CPU per call, all of it spent
on the event loop that also proxies requests. Janus already has aiohttp's
client, several times cheaper per call, so the wallet client's requests are
handed to it. Only the transport changes: the wallet client keeps its calls,
parsing and typed errors.
"""

from __future__ import annotations

import aiohttp
import httpx


class AiohttpTransport(httpx.AsyncBaseTransport):
    def __init__(self, *, limit: int = 32, timeout: float = 10.0) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Created lazily: a ClientSession must be made inside the running loop.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit, keepalive_timeout=30),
                timeout=self._timeout, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"))
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
                   if k.lower() not in (b"host", b"content-length", b"transfer-encoding")]
        body = await request.aread() or None
        try:
            async with self._client().request(request.method, str(request.url), headers=headers, data=body,
                                              allow_redirects=False) as response:
                content = await response.read()
        except TimeoutError as exc:  # aiohttp's timeouts are asyncio's
            raise httpx.ReadTimeout(f"wallet call timed out: {exc!r}", request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.ConnectError(f"wallet call failed: {exc!r}", request=request) from exc
        return httpx.Response(response.status, headers=list(response.raw_headers), content=content,
                              request=request)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
