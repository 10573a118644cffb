"""Assemble Janus from its settings and run it: one process, or one per core.

Several workers share the port with SO_REUSEPORT; each has its own holds (the
no-overspend rule holds per hold, so it holds for the sum) and its own pool.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import tempfile
import time
from pathlib import Path

from aiohttp import web

from tawa import logs
from tawa.gas.platform import load_platform_table
from tawa.janus.app import Janus, JanusServer
from tawa.janus.identity import Identity, KubeTokenReviewer
from tawa.janus.journal import Journal, journal_path
from tawa.janus.metering import Meter
from tawa.janus.metrics import Metrics
from tawa.janus.registry import ClusterSource, FileSource, Registry, Source
from tawa.janus.settings import JanusSettings
from tawa.janus.spool import Spool

log = logging.getLogger("tawa.janus")
SHUTDOWN_GRACE = 10.0


def build(settings: JanusSettings, worker: int = 0) -> tuple[Janus, Spool]:
    from tawa.janus.transport import AiohttpTransport
    from tawa.wallet.client import AsyncWalletClient

    api = None
    if settings.registry is None or settings.token_review:
        from tawa.kube import api_client

        api = api_client(settings.kubeconfig)
    source: Source = FileSource(settings.registry) if settings.registry else ClusterSource(api, settings.env)
    registry = Registry(source, settings.registry_ttl, size=settings.cache_size)
    reviewer = KubeTokenReviewer(api) if settings.uses_token_review and api is not None else None
    if not (settings.jwt_secret or settings.jwks_url or reviewer):
        log.warning("no TAWA_JANUS_JWT_SECRET, TAWA_JANUS_JWKS_URL or TokenReview: only public routes can be called")
    identity = Identity(audience=settings.jwt_audience, secret=settings.jwt_secret, jwks_url=settings.jwks_url,
                        reviewer=reviewer, components=registry.component, cache_size=settings.cache_size,
                        max_lifetime=settings.jwt_max_lifetime, issuer=settings.jwt_issuer)
    metrics = Metrics()
    wallet = AsyncWalletClient(settings.wallet_url, settings.wallet_token or "", timeout=settings.wallet_timeout,
                               transport=AiohttpTransport(timeout=settings.wallet_timeout),
                               token_file=settings.wallet_token_file)
    spool = Spool(settings.spool_file)
    meter = Meter(wallet, spool, metrics, hold_ttl=settings.hold_ttl, chunk=settings.hold_chunk,
                  chunk_max=settings.hold_chunk_max, margin=settings.hold_margin,
                  settle_interval=settings.settle_interval, settle_batch=settings.settle_batch,
                  grants_ttl=settings.grants_ttl, cache_size=settings.cache_size,
                  fail_open_cap=settings.fail_open_cap // settings.workers,
                  wallet_retry=settings.wallet_retry, hold_idle=settings.hold_idle,
                  journal=Journal(journal_path(settings.data_dir, worker)), recover=orphan_journals(settings, worker))
    janus = Janus(registry=registry, identity=identity, meter=meter, metrics=metrics,
                  platform_prices=load_platform_table(settings.platform_prices),
                  upstream_timeout=settings.upstream_timeout, connect_timeout=settings.upstream_connect_timeout,
                  pool_size=settings.upstream_pool_size, body_timeout=settings.body_timeout,
                  access_log=settings.access_log)
    return janus, spool


def orphan_journals(settings: JanusSettings, worker: int) -> list[Journal]:
    """Journals of worker numbers that no longer exist (fewer workers than last time): worker 0 adopts them."""
    if worker != 0:
        return []
    found = []
    for path in sorted(settings.data_dir.glob("janus-journal-*.db")):
        number = path.stem.rsplit("-", 1)[1]
        if number.isdigit() and int(number) >= settings.workers:
            found.append(Journal(path))
    return found


async def serve(settings: JanusSettings, worker: int = 0) -> None:
    """Run one worker until SIGTERM/SIGINT, then drain: finish calls, settle, release holds."""
    janus, spool = build(settings, worker)
    await janus.start()
    _tune_gc()
    server = JanusServer(janus.handle, header_timeout=settings.header_timeout, access_log=None,
                         auto_decompress=False)
    runner = web.ServerRunner(server, shutdown_timeout=SHUTDOWN_GRACE)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, reuse_port=settings.workers > 1, backlog=2048)
    await site.start()
    log.info("janus listening", extra={"url": site.name, "worker": worker, "pid": os.getpid(),
                                       "wallet": settings.wallet_url})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("janus stopping", extra={"worker": worker})
    await runner.cleanup()
    await janus.stop()
    spool.close()


def _tune_gc() -> None:
    """Everything alive after start-up lives until shutdown: freezing it keeps the
    collector from re-scanning it, and a larger young generation makes collections
    rarer; both shorten the pauses that show up in tail latency."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def _worker_main(settings: JanusSettings, worker: int) -> None:
    logs.configure(settings.log_level)
    asyncio.run(serve(settings, worker))


def run(settings: JanusSettings) -> None:
    """Serve with `settings.workers` processes (the calling process supervises them)."""
    logs.configure(settings.log_level)
    if settings.workers == 1:
        asyncio.run(serve(settings))
        return
    # Counters from every worker add up through files in this directory; it must
    # be in the environment before a worker imports prometheus-client.
    metrics_dir = Path(tempfile.mkdtemp(prefix="janus-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    Supervisor(settings).run()


class Supervisor:
    """Starts the workers, restarts one that dies, and passes SIGTERM/SIGINT on."""

    def __init__(self, settings: JanusSettings) -> None:
        self.settings = settings
        self.context = multiprocessing.get_context("spawn")
        self.procs: dict[int, multiprocessing.process.BaseProcess] = {}
        self.stopping = False

    def _start(self, worker: int) -> None:
        proc = self.context.Process(target=_worker_main, args=(self.settings, worker), name=f"janus-{worker}")
        proc.start()
        self.procs[worker] = proc

    def _stop(self, signum: int, _frame: object) -> None:
        self.stopping = True
        for proc in self.procs.values():
            if proc.pid and proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM)

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for worker in range(self.settings.workers):
            self._start(worker)
        while not self.stopping:
            multiprocessing.connection.wait([p.sentinel for p in self.procs.values()], timeout=1.0)
            for worker, proc in list(self.procs.items()):
                if not proc.is_alive() and not self.stopping:
                    log.error("janus worker died; restarting it", extra={"worker": worker, "code": proc.exitcode})
                    time.sleep(0.5)  # a worker that cannot start must not spin
                    self._start(worker)
        for proc in self.procs.values():
            proc.join()
