"""Everything one operator process keeps in memory, in one object.

`tawa operator run` builds an `OperatorContext` and hands it to kopf in the memo
(`kopf.run(memo=...)`); every handler finds it there (`context_of(memo)`). Nothing
else holds state: the hosting loop's view of the Components, the gate watcher's
closed gates, the per-Component locks, the background loops and their thread pool
all live here, so a test builds its own, with its own wallet and clock.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import kopf

from tawa.controller.settings import OperatorSettings
from tawa.wallet.client import WalletClient

Clock = Callable[[], float]  # seconds: time.time for the hosting buckets, time.monotonic for backoffs
Key = tuple[str, str]  # a Component's (namespace, name)
MEMO_KEY = "operator"
CHARGE_CONCURRENCY = 16


@dataclass
class HostingState:
    """The hosting loop's view, by Component uid: the latest body of each Component; the
    last bucket charged for it in this process (status.lastChargedHour may lag behind our
    own writes); and the last bucket (number) in which this process saw it with Ready
    pods, which it never records idle."""
    components: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_charged: dict[str, str | None] = field(default_factory=dict)
    seen_ready: dict[str, int] = field(default_factory=dict)

    def forget(self, uid: str) -> None:
        """A deleted Component: it is not charged again."""
        self.components.pop(uid, None)
        self.last_charged.pop(uid, None)
        self.seen_ready.pop(uid, None)


@dataclass(frozen=True)
class Closed:
    """A Component whose gate is closed, as its status says."""
    owner: str
    reason: str


@dataclass
class Backoff:
    failures: int = 0
    until: float = 0.0


@dataclass
class GateState:
    """The gate watcher's view: the closed gates; each org's backoff while its wallet cannot
    be reached; the hosting balance each Component's last gate check saw (a closed gate is
    re-checked once its org's balance is no longer that); and kopf's indices, which a
    re-check's reconcile needs (kopf hands them only to handlers)."""
    closed: dict[Key, Closed] = field(default_factory=dict)
    backoff: defaultdict[str, Backoff] = field(default_factory=lambda: defaultdict(Backoff))
    checked_balance: dict[Key, int] = field(default_factory=dict)
    indices: dict[str, Any] = field(default_factory=dict)


class ComponentLocks:
    """One reconcile at a time per Component: kopf's handler and the gate watcher's
    re-check may both run one."""

    def __init__(self) -> None:
        self._locks: dict[Key, threading.Lock] = {}
        self._guard = threading.Lock()

    def of(self, key: Key) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def forget(self, key: Key) -> None:
        with self._guard:
            self._locks.pop(key, None)


def _charging_pool() -> ThreadPoolExecutor:
    # The wallet calls have threads of their own, as many as may be in flight (the wallet
    # commits concurrent charges in groups): in the default pool, queued behind the status
    # writes of the same round, 1,000 charges took 9-10 s instead of 4 (bench-operator).
    return ThreadPoolExecutor(CHARGE_CONCURRENCY, thread_name_prefix="hosting-charge")


@dataclass
class OperatorContext:
    settings: OperatorSettings
    wallet: WalletClient  # one for the process: it is thread-safe, and keeps its connections
    namespaces: tuple[str, ...] = ()  # watched; none: the whole cluster
    clock: Clock = time.time
    monotonic: Clock = time.monotonic
    hosting: HostingState = field(default_factory=HostingState)
    gate: GateState = field(default_factory=GateState)
    locks: ComponentLocks = field(default_factory=ComponentLocks)
    # What this process last wrote as each Component's readiness. Skipping on what the
    # Component shows instead would let a second operator's late, stale write stand: each
    # process sees its Deployment events in order, so the last write of each is the truth.
    readiness_written: dict[Key, tuple[str, bool, str]] = field(default_factory=dict)
    charging: ThreadPoolExecutor = field(default_factory=_charging_pool)  # threads start on first use
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: OperatorSettings, namespaces: tuple[str, ...] = ()) -> OperatorContext:
        return cls(settings, WalletClient(settings.wallet_url, settings.wallet_token, timeout=5.0,
                                             token_file=settings.wallet_token_file), namespaces)

    def start_once(self, name: str, loop: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Start a background loop unless it runs already."""
        if name not in self.tasks:
            self.tasks[name] = asyncio.create_task(loop(), name=name)

    def forget(self, key: Key) -> None:
        """A deleted Component's per-process state of the reconcile and the gate watcher."""
        self.locks.forget(key)
        self.gate.checked_balance.pop(key, None)

    async def stop(self) -> None:
        """Stop the background loops (each finishes its round) and their thread pool."""
        self.stopped.set()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        self.tasks.clear()
        self.charging.shutdown(wait=False)


def context_of(memo: Mapping[str, Any]) -> OperatorContext:
    """The context kopf carries in every handler's memo (`tawa operator run` puts it there)."""
    found = memo.get(MEMO_KEY)
    if not isinstance(found, OperatorContext):
        # Permanent: kopf would retry any other error, forever.
        raise kopf.PermanentError("no OperatorContext in kopf's memo: start the operator with `tawa operator run`")
    return found


def memo_for(context: OperatorContext) -> kopf.Memo:
    """What `kopf.run(memo=...)` is given: kopf copies it (shallowly) into each object's memo."""
    return kopf.Memo({MEMO_KEY: context})
