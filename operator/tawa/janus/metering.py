"""Metering against the wallet: holds in chunks, settlements in batches, fail-open.

The hot path (`authorize`, `charge`, `cancel`) normally touches only the
in-memory `HoldBook`. Wallet round trips happen when an org's holds run out
(one hold for many requests), every `settle_interval` (one batch for many
charges), and in the spool drainer. When the wallet cannot be reached,
requests are forwarded anyway (fail-open) up to a per-org cap of unbilled
tokens, and their charges are written to the durable spool.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from tawa import names
from tawa.cache import TtlCache
from tawa.janus.billing import Payer
from tawa.janus.holds import HoldBook, Reservation
from tawa.janus.journal import Journal
from tawa.janus.metrics import Metrics
from tawa.janus.spool import Charge, Spool
from tawa.names import Grant
from tawa.refusal import Refusal
from tawa.wallet.client import (
    AsyncWalletClient,
    BatchResult,
    HoldClosed,
    HoldNotFound,
    HoldRequest,
    IdempotencyConflict,
    InsufficientGas,
    SettleRequest,
    WalletError,
    WalletNotFound,
    WalletUnavailable,
)
from tawa.wallet.client import (
    Hold as WalletHold,
)

log = logging.getLogger("tawa.janus.metering")

MAX_REFILLS = 20  # per request: each refill adds at least one request's worth, so this is plenty
SHORT_RETRY = 60.0  # seconds before a spooled charge whose org could not pay is tried again
PREFETCH_BACKOFF = 5.0  # seconds without background holds for an org that could not pay for one


def settlement_key(request_id: str) -> str:
    """The idempotency key of a request's settlement: one request, one charge, ever."""
    return f"janus-settle/{request_id}"


def org_cannot_pay(org: str, price: int, available: int) -> Refusal:
    return Refusal(402, "INSUFFICIENT_GAS",
                   f"Org {org!r} has {available} tokens available for API gas and this call costs {price}; "
                   "buy tokens for the org (intro tokens never pay API gas).",
                   org=org, price=price, available=available)


def _to_settle(c: Charge) -> SettleRequest:
    assert c.hold is not None
    # The journal and the spool keep the provider's wallet id (their format since the start).
    return SettleRequest(hold=c.hold, provider=names.org_of_wallet(c.provider, "provider"), tokens=c.tokens,
                         service=c.service, route=c.route, method=c.method, request_id=c.request_id, key=c.key)


class HoldBatcher:
    """Holds go to the wallet's batch API: the first request is sent at once, and
    requests arriving while a batch is in flight ride together in the next one,
    so bursts of refills across orgs cost one round trip, and a lone one no wait."""

    def __init__(self, wallet: AsyncWalletClient, ttl: int, max_items: int = 100) -> None:
        self.wallet, self.ttl, self.max_items = wallet, ttl, max_items
        self._pending: list[tuple[HoldRequest, asyncio.Future[WalletHold]]] = []
        self._running = False

    async def take(self, org: str, tokens: int) -> WalletHold:
        future: asyncio.Future[WalletHold] = asyncio.get_running_loop().create_future()
        self._pending.append((HoldRequest(org, tokens, self.ttl, key=str(uuid.uuid4())), future))
        if not self._running:
            self._running = True
            asyncio.create_task(self._run())
        return await future

    async def _run(self) -> None:
        try:
            while self._pending:
                await asyncio.sleep(0)  # requests made in this same loop turn join the batch
                batch, self._pending = self._pending[: self.max_items], self._pending[self.max_items:]
                await self._send(batch)
        finally:
            self._running = False

    async def _send(self, batch: list[tuple[HoldRequest, asyncio.Future[WalletHold]]]) -> None:
        try:
            results = await self.wallet.hold_batch([r for r, _ in batch], idempotency_key=str(uuid.uuid4()))
        except Exception as exc:  # noqa: BLE001 — every waiter must learn why, or it waits forever
            for _, future in batch:
                _fail(future, exc)
            return
        by_key = {r.key: r for r in results}
        for request, future in batch:
            result = by_key.get(request.key)
            if result is not None and result.ok and result.value is not None:
                if not future.done():
                    future.set_result(result.value)
            else:
                _fail(future, result.error if result is not None and result.error else
                      WalletUnavailable(0, message="the wallet's batch answer lacks this hold"))


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
        future.exception()  # retrieved: a waiter that was cancelled must not warn


class Meter:
    def __init__(
        self,
        wallet: AsyncWalletClient,
        spool: Spool,
        metrics: Metrics,
        *,
        hold_ttl: int,
        chunk: int,
        chunk_max: int,
        margin: float,
        settle_interval: float,
        settle_batch: int,
        grants_ttl: float,
        cache_size: int = 10_000,
        fail_open_cap: int,
        wallet_retry: float,
        hold_idle: float = 30.0,
        journal: Journal | None = None,
        recover: Sequence[Journal] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.wallet, self.spool, self.metrics = wallet, spool, metrics
        self.book = HoldBook(chunk=chunk, chunk_max=chunk_max, margin=margin)
        self.hold_ttl, self.settle_interval, self.settle_batch = hold_ttl, settle_interval, settle_batch
        self.fail_open_cap, self.wallet_retry, self.hold_idle = fail_open_cap, wallet_retry, hold_idle
        self._clock = clock
        self.journal, self._recover = journal, recover
        self._grants = TtlCache(grants_ttl, clock, cache_size)
        self._holds = HoldBatcher(wallet, hold_ttl)
        self._refills: dict[str, asyncio.Future[None]] = {}
        self._prefetch_after: dict[str, float] = {}  # no background hold for an org that just could not pay
        self._background: set[asyncio.Task[None]] = set()
        self._queue: list[Charge] = []
        self._wake = asyncio.Event()
        self._drain_now = asyncio.Event()
        self._down_until = 0.0
        self._spooled_unbacked: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    # ----- lifecycle

    async def start(self) -> None:
        await self._recover_journals()
        self._spooled_unbacked = await asyncio.to_thread(self.spool.unbacked_tokens)
        self._tasks = [asyncio.create_task(loop()) for loop in (self._flusher, self._drainer, self._sweeper)]

    async def stop(self) -> None:
        """Flush what is queued, give unused holds back, and stop."""
        self._closing = True
        self._wake.set()
        flusher, *others = self._tasks
        await asyncio.gather(flusher, return_exceptions=True)  # it flushes the queue, then ends
        for task in [*others, *self._background]:
            task.cancel()
        await asyncio.gather(*others, *self._background, return_exceptions=True)
        for _ in range(3):  # the flusher's last round may have failed; do not loop forever
            try:
                while self._queue:
                    await self._flush_once()
                break
            except Exception:  # shutting down: report it, and try once more
                log.exception("final settlement flush failed")
        if self._queue:
            log.error("%d charges could not be settled or spooled at shutdown; the journal keeps them",
                      len(self._queue))
        for hold in self.book.open_holds():
            if hold.free > 0 and not hold.busy():
                await self._release(hold.id)
        await self.wallet.aclose()
        if self.journal is not None:
            self.journal.close()

    async def _recover_journals(self) -> None:
        """Charges a killed predecessor answered but never settled: the spool settles them."""
        for journal in {id(j): j for j in (*filter(None, [self.journal]), *self._recover)}.values():
            charges = journal.all()
            if charges:
                log.warning("recovering %d unsettled charges from %s", len(charges), journal.path)
                await self._spool(charges)
                journal.forget([c.key for c in charges])
            if journal is not self.journal:
                journal.close()

    # ----- the hot path

    def wallet_down(self) -> bool:
        return self._clock() < self._down_until

    def _mark_down(self, exc: Exception) -> None:
        if not self.wallet_down():
            log.warning("wallet unreachable (%s): failing open for %.1fs", exc, self.wallet_retry)
        self._down_until = self._clock() + self.wallet_retry

    async def authorize(self, payer: Payer, price: int, service: str) -> Reservation:
        """Promise `price` tokens of `payer`'s: from a local hold, a new hold, or fail-open."""
        org = payer.org
        for _ in range(MAX_REFILLS):
            now = self._clock()
            res = self.book.reserve(org, price, now)
            if res is not None:
                if org not in self._refills and self.book.running_low(org, now) \
                        and now >= self._prefetch_after.get(org, 0.0) and not self.wallet_down():
                    self._prefetch(org, price)
                return res
            if self.wallet_down():
                return self._unbacked(org, price, service)
            try:
                await self._refill(org, price)
            except WalletUnavailable as exc:
                self._mark_down(exc)
                return self._unbacked(org, price, service)
            except WalletError as exc:  # e.g. 401: Janus's own wallet token is wrong
                log.error("the wallet refused a hold for %s: %s", org, exc)
                raise Refusal(503, "WALLET_REFUSED", "The wallet refused Janus's request to reserve gas; "
                              "the platform operator must fix Janus's wallet settings (TAWA_WALLET_TOKEN).",
                              org=org) from None
        raise Refusal(503, "JANUS_BUSY", f"Janus could not reserve gas for org {org!r} under load; retry shortly.")

    def _unbacked(self, org: str, price: int, service: str) -> Reservation:
        spooled = self._spooled_unbacked.get(org, 0)
        res = self.book.reserve_unbacked(org, price, self.fail_open_cap - spooled)
        if res is None:
            raise Refusal(503, "WALLET_UNAVAILABLE",
                          f"The wallet is unreachable and org {org!r} already has {spooled + self.book.exposure(org)} "
                          "unbilled tokens of calls; retry when the wallet is back.", org=org)
        self.metrics.fail_open.labels(service).inc()
        return res

    async def charge(self, res: Reservation, *, provider: str, service: str, route: str, method: str,
                     request_id: str) -> None:
        """The upstream answered 2xx: bill it (queued for the next batch, or spooled)."""
        charge = Charge(settlement_key(request_id), res.org, res.hold.id if res.hold else None, provider,
                        res.tokens, service, route, method, request_id)
        if res.hold is not None:
            self.book.commit(res)
            if self.journal is not None:
                try:  # in the journal before the caller sees the answer: a crash cannot lose it
                    await self.journal.record(charge)
                except sqlite3.Error as exc:
                    log.error("journal write failed (%s); charge %s is queued but not crash-safe", exc, charge.key)
            self._queue.append(charge)
            if len(self._queue) >= self.settle_batch:
                self._wake.set()
            return
        try:
            await self._spool([charge])  # fail-open usage: on disk before we move on
        finally:
            self.book.cancel(res)  # the in-flight count moves to the spool's count

    def cancel(self, res: Reservation) -> None:
        self.book.cancel(res)

    # ----- holds

    def _prefetch(self, org: str, price: int) -> None:
        """Take the org's next hold in the background while the current one still has tokens."""
        async def run() -> None:
            try:
                await self._refill(org, price)
            except WalletUnavailable as exc:
                self._mark_down(exc)
            except (Refusal, WalletError) as exc:
                log.debug("background hold for %s not taken: %s", org, exc)
                self._prefetch_after[org] = self._clock() + PREFETCH_BACKOFF

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _refill(self, org: str, price: int) -> None:
        """Take a new hold for `org`; concurrent requests of the same org share one call."""
        pending = self._refills.get(org)
        if pending is not None:
            await asyncio.shield(pending)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._refills[org] = future
        try:
            await self._take_hold(org, price)
            future.set_result(None)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()
            raise
        finally:
            self._refills.pop(org, None)

    async def _take_hold(self, org: str, price: int) -> None:
        tokens = self.book.next_chunk(org, price, self._clock())
        try:
            try:
                hold = await self._holds.take(org, tokens)
            except InsufficientGas as short:
                if short.available < price:
                    raise
                # Less than a chunk is left: hold all of it rather than refuse a call it covers.
                hold = await self._holds.take(org, short.available)
        except InsufficientGas as short:
            raise org_cannot_pay(org, price, short.available + self.book.free(org, self._clock())) from None
        except WalletNotFound:
            raise Refusal(402, "INSUFFICIENT_GAS", f"Org {org!r} has no wallet ({names.wallet_id(org)}), so it "
                          f"cannot pay for this call; create the org's wallet and buy tokens.", org=org, price=price,
                          available=0) from None
        # The wallet's clock started before its answer reached us: count from the request.
        self.book.add(org, hold.id, hold.tokens, self._clock(), self.hold_ttl - 1)
        self.metrics.holds_taken.inc()

    async def _release(self, hold_id: str) -> None:
        try:
            await self.wallet.release(hold_id, idempotency_key=f"janus-release/{hold_id}")
        except WalletError as exc:
            log.info("release of hold %s failed (%s); it will expire", hold_id, exc)

    async def _sweeper(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self.wallet_down():
                continue
            for hold in self.book.sweep(self._clock(), self.hold_idle):
                await self._release(hold.id)

    # ----- bill grants

    async def grants(self, org: str) -> frozenset[Grant]:
        """The callers (owner org, service) that `org` allows to bill it via X-Bill-Org."""
        async def load() -> frozenset[Grant]:
            try:
                return frozenset((await self.wallet.get_bill_grants(org)).grants)
            except WalletNotFound:
                return frozenset()

        try:
            return await self._grants.get(org, load)  # type: ignore[no-any-return]
        except WalletUnavailable as exc:
            self._mark_down(exc)
            stale = self._grants.stale(org)
            if stale is not None:
                return stale  # type: ignore[no-any-return]
            raise Refusal(503, "WALLET_UNAVAILABLE", f"Janus cannot check whether org {org!r} allows "
                          "this service to bill it while the wallet is unreachable; retry shortly.",
                          org=org) from None
        except WalletError as exc:  # an answer Janus cannot use is an error, never a reason to bill
            log.error("the wallet's answer about %s's bill grants was refused: %s", org, exc)
            raise Refusal(503, "WALLET_REFUSED", "Janus could not read the org's bill grants from the wallet; "
                          "the platform operator must check the wallet and Janus's settings.", org=org) from None

    # ----- settlement batches

    async def _flusher(self) -> None:
        while not self._closing:
            try:
                await asyncio.wait_for(self._wake.wait(), self.settle_interval)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                while self._queue:
                    await self._flush_once()
            except Exception:  # this loop must outlive any one bad batch
                log.exception("settlement flush failed; retrying in %.1fs", self.wallet_retry)
                await asyncio.sleep(self.wallet_retry)

    async def _flush_once(self) -> None:
        batch, self._queue = self._queue[: self.settle_batch], self._queue[self.settle_batch:]
        try:
            await self._settle_batch(batch)
        except Exception:
            # E.g. the spool's disk failed: keep the charges queued; resending them with
            # the same keys can never charge twice.
            self._queue[:0] = batch
            raise

    async def _settle_batch(self, batch: list[Charge]) -> None:
        try:
            results = await self.wallet.settle_batch([_to_settle(c) for c in batch],
                                                     idempotency_key=str(uuid.uuid4()))
        except asyncio.CancelledError:
            # The batch may or may not have reached the wallet: the spool resends it with
            # the same keys, which settles each charge exactly once either way.
            await asyncio.shield(self._spool(batch))
            self._forget(batch)
            raise
        except WalletUnavailable as exc:
            self._mark_down(exc)
            await self._spool(batch)
        except WalletError as exc:  # the whole batch refused: a bug, keep the charges
            log.error("settlement batch refused (%s); spooling %d charges", exc, len(batch))
            await self._spool(batch)
        else:
            await self._apply_results(batch, results, spooled=False)
        self._forget(batch)  # settled, refused for good, or in the spool's care now

    def _forget(self, charges: Sequence[Charge]) -> None:
        if self.journal is not None:
            self.journal.forget([c.key for c in charges])

    async def _apply_results(self, charges: Sequence[Charge], results: Sequence[BatchResult[Any]],
                             *, spooled: bool) -> None:
        by_key = {r.key: r for r in results}
        done: list[Charge] = []
        again: list[Charge] = []  # spool (or keep) for a later try with the same key
        rehold: list[Charge] = []  # the hold closed before the charge reached it
        for c in charges:
            r = by_key.get(c.key)
            err = r.error if r is not None else WalletUnavailable(0, message="no result for the key")
            if err is None or (isinstance(err, IdempotencyConflict) and err.status == 422):
                # 422 on our own key: it was settled earlier (with another hold); never twice.
                done.append(c)
            elif isinstance(err, (HoldClosed, HoldNotFound)):
                rehold.append(c)
            elif isinstance(err, (WalletUnavailable, IdempotencyConflict)):
                again.append(c)
            else:
                log.error("wallet refused charge %s for good: %s", c.key, err)
                self.metrics.settle_rejected.inc()
                if not spooled:
                    await self._spool([c])
                await asyncio.to_thread(self.spool.reject, c.key, f"{err.status} {err.code}: {err}")
                self._settled(c)
        for c in done:
            self._settled(c)
            self.metrics.gas_charged.labels(c.service).inc(c.tokens)
        if spooled:
            if done:
                await asyncio.to_thread(self.spool.done, [c.key for c in done])
            if rehold:
                await asyncio.to_thread(self.spool.set_hold, [c.key for c in rehold], None)
                self._drain_now.set()
            if again:
                await asyncio.to_thread(self.spool.retry_later, [c.key for c in again], self.wallet_retry,
                                        "wallet unavailable")
        else:
            if again or rehold:
                await self._spool(again + [_unheld(c) for c in rehold])
            for c in rehold:
                self._settled(c)

    def _settled(self, c: Charge) -> None:
        if c.hold is not None:
            self.book.settled(c.hold, c.org, c.tokens)

    async def _spool(self, charges: Sequence[Charge]) -> None:
        await asyncio.to_thread(self.spool.add, charges)
        self.metrics.spooled.inc(len(charges))
        for c in charges:
            if c.hold is None:
                self._spooled_unbacked[c.org] = self._spooled_unbacked.get(c.org, 0) + c.tokens
        self._drain_now.set()

    # ----- the spool drainer

    async def _drainer(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._drain_now.wait(), self.wallet_retry)
            except TimeoutError:
                pass
            self._drain_now.clear()
            try:
                if self.wallet_down():
                    # Other workers spool too: keep the shared fail-open count current.
                    self._spooled_unbacked = await asyncio.to_thread(self.spool.unbacked_tokens)
                else:
                    await self.drain_once()
            except Exception:
                log.exception("spool drain failed; retrying in %.1fs", self.wallet_retry)

    async def drain_once(self) -> int:
        """Settle what the spool holds; returns how many charges were leased."""
        charges = await asyncio.to_thread(self.spool.lease, self.settle_batch)
        if charges:
            backed = [c for c in charges if c.hold is not None]
            fresh = await self._hold_for([c for c in charges if c.hold is None])
            if backed or fresh:
                await self._settle_spooled(backed + fresh)
            # A hold taken here covers exactly its charges; give back whatever a refusal left.
            for hold in {c.hold for c in fresh if c.hold}:
                await self._release(hold)
        self._spooled_unbacked = await asyncio.to_thread(self.spool.unbacked_tokens)
        self.metrics.spool_pending.set(await asyncio.to_thread(self.spool.pending))
        return len(charges)

    async def _hold_for(self, charges: Sequence[Charge]) -> list[Charge]:
        """One hold per org covering its unbacked charges (the batch API); the charges now backed."""
        by_org: dict[str, list[Charge]] = defaultdict(list)
        for c in charges:
            by_org[c.org].append(c)
        if not by_org:
            return []
        requests = [HoldRequest(org, sum(c.tokens for c in cs), self.hold_ttl, key=str(uuid.uuid4()))
                    for org, cs in by_org.items()]
        try:
            results = await self.wallet.hold_batch(requests, idempotency_key=str(uuid.uuid4()))
        except WalletError as exc:
            if isinstance(exc, WalletUnavailable):
                self._mark_down(exc)
            await asyncio.to_thread(self.spool.retry_later, [c.key for c in charges], self.wallet_retry, str(exc))
            return []
        backed: list[Charge] = []
        by_key = {r.key: r for r in results}
        for req, (org, cs) in zip(requests, by_org.items(), strict=True):
            keys = [c.key for c in cs]
            result = by_key.get(req.key)
            if result is not None and result.value is not None:
                await asyncio.to_thread(self.spool.set_hold, keys, result.value.id)
                backed += [Charge(c.key, c.org, result.value.id, *_rest(c)) for c in cs]
            else:
                error = result.error if result is not None else None
                delay = SHORT_RETRY if isinstance(error, InsufficientGas) else self.wallet_retry
                log.warning("spooled charges of org %s wait: %s", org, error)
                await asyncio.to_thread(self.spool.retry_later, keys, delay, str(error))
        return backed

    async def _settle_spooled(self, charges: Sequence[Charge]) -> None:
        try:
            results = await self.wallet.settle_batch([_to_settle(c) for c in charges],
                                                     idempotency_key=str(uuid.uuid4()))
        except WalletError as exc:
            if isinstance(exc, WalletUnavailable):
                self._mark_down(exc)
            await asyncio.to_thread(self.spool.retry_later, [c.key for c in charges], self.wallet_retry, str(exc))
            return
        await self._apply_results(charges, results, spooled=True)


def _rest(c: Charge) -> tuple[str, int, str, str, str, str]:
    return (c.provider, c.tokens, c.service, c.route, c.method, c.request_id)


def _unheld(c: Charge) -> Charge:
    return Charge(c.key, c.org, None, *_rest(c))
