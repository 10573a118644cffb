"""Janus's caches are bounded (finding 5: 9,000 long X-Bill-Org values grew Janus by 50 MB, for good)."""

from __future__ import annotations

import asyncio

from tawa.cache import LruCache, TtlCache


def test_an_lru_cache_never_holds_more_than_its_size() -> None:
    cache: LruCache[str, int] = LruCache(3)
    for i in range(10_000):
        cache.put(f"org-{i}", i)
    assert len(cache) == 3 and cache.get("org-9999") == 9999 and cache.get("org-0") is None


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3


def test_a_ttl_cache_is_bounded_too() -> None:
    async def run() -> TtlCache:
        cache = TtlCache(60.0, size=100)

        async def load() -> frozenset[str]:
            return frozenset()

        for i in range(5_000):
            await cache.get(f"org-{i}", load)
        return cache

    cache = asyncio.run(run())
    assert len(cache) == 100 and cache.peek("org-4999") == (True, frozenset())
    assert cache.peek("org-0") == (False, None)
