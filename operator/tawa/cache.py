"""Bounded caches (pure asyncio, no I/O of their own): Janus's lookups and tokens, the wallet's reviewed tokens.

Every key that reaches a cache comes from a request (a token, an org, a
service name), so every cache has a size: an attacker who sends a million
distinct values evicts old entries, never grows the process.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """At most `size` entries; the least recently used goes first."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a cache holds at least one entry")
        self.size = size
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class TtlCache:
    """Results (None included) kept `ttl` seconds, at most `size` of them; one lookup in flight per key."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic, size: int = 10_000) -> None:
        self.ttl, self._clock = ttl, clock
        self._entries: LruCache[Any, tuple[Any, float]] = LruCache(size)
        self._pending: dict[Any, asyncio.Future[Any]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def peek(self, key: Any) -> tuple[bool, Any]:
        entry = self._entries.get(key)
        if entry is not None and entry[1] > self._clock():
            return True, entry[0]
        return False, None

    async def get(self, key: Any, load: Callable[[], Awaitable[Any]]) -> Any:
        hit, value = self.peek(key)
        if hit:
            return value
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            value = await load()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters may be none
            raise
        finally:
            self._pending.pop(key, None)
        self._entries.put(key, (value, self._clock() + self.ttl))
        future.set_result(value)
        return value

    def stale(self, key: Any) -> Any:
        """The last value even if expired (for when the source is down)."""
        entry = self._entries.get(key)
        return entry[0] if entry else None
