"""Failed authentications, counted per source and slowed: past `limit` failures within
`window` seconds, a source gets 429 with Retry-After on every call that needs a credential
(before its credential is checked, so guessing learns nothing) until the window ends.

Memory is bounded: at most `max_sources` sources are remembered, the least recently failing
forgotten first. A source is the peer address the socket saw (no forwarded header is
trusted: anyone could send one).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_SOURCES = 10_000


class FailedAuthThrottle:
    def __init__(self, limit: int, window: float, max_sources: int = MAX_SOURCES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.max_sources, self.clock = limit, window, max_sources, clock
        self._failures: OrderedDict[str, tuple[float, int]] = OrderedDict()  # source → (window start, count)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._failures)

    def retry_after(self, source: str) -> int | None:
        """Whole seconds until `source` may try again, or None when it is not being slowed."""
        with self._lock:
            found = self._failures.get(source)
        if found is None:
            return None
        start, count = found
        left = self.window - (self.clock() - start)
        return math.ceil(left) if count >= self.limit and left > 0 else None

    def failed(self, source: str) -> None:
        now = self.clock()
        with self._lock:
            start, count = self._failures.pop(source, (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            self._failures[source] = (start, count + 1)  # now the most recent
            while len(self._failures) > self.max_sources:
                self._failures.popitem(last=False)
