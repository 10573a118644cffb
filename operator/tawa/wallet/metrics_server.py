"""The wallet's /metrics on a port of its own (`tawa wallet serve --metrics-port N`).

There it answers without a token: what guards it is who can reach the port (the chart's
NetworkPolicy lets only the Prometheus namespace in), so Prometheus needs no wallet
credential. The API port keeps its own /metrics behind the admin's token. Both servers
share one event loop; the API server takes SIGTERM/SIGINT and the metrics server stops
with it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def metrics_app(registry: CollectorRegistry) -> Starlette:
    """GET /metrics and nothing else (any other path is a 404)."""

    def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/metrics", metrics, methods=["GET"])])


class _Follower(uvicorn.Server):
    """A server that takes no signals: it is stopped by the one it runs beside."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve_both(api: uvicorn.Server, metrics: uvicorn.Server) -> None:
    beside = asyncio.create_task(metrics.serve())
    try:
        await api.serve()
    finally:
        metrics.should_exit = True
        await beside


def run_beside(api: uvicorn.Config, metrics: uvicorn.Config) -> None:
    """Serve `api` and `metrics` in one event loop until SIGTERM/SIGINT stops the API server."""
    with asyncio.Runner(loop_factory=api.get_loop_factory()) as runner:
        runner.run(_serve_both(uvicorn.Server(api), _Follower(metrics)))
