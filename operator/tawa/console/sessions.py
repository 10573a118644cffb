"""Server-side sessions: the org key lives here only (never in a cookie, URL, page or log),
under a random id; bounded in number and in time."""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Session:
    key: str = field(repr=False)  # the org key the console calls the wallet with
    org: str
    role: str  # owner | viewer
    key_id: str
    expires: float
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)

    @property
    def owner(self) -> bool:
        return self.role == "owner"


class SessionStore:
    """At most `max_sessions` sessions, each ending `ttl` seconds after login; the oldest
    is dropped first when full."""

    def __init__(self, ttl: float, max_sessions: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.max_sessions, self.clock = ttl, max_sessions, clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def open(self, key: str, org: str, role: str, key_id: str) -> str:
        """A new session's id (for the cookie)."""
        sid = secrets.token_urlsafe(32)
        self._sessions[sid] = Session(key, org, role, key_id, self.clock() + self.ttl)
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)
        return sid

    def get(self, sid: str | None) -> Session | None:
        found = self._sessions.get(sid) if sid else None
        if found is not None and found.expires <= self.clock():
            self.close(sid)
            return None
        return found

    def close(self, sid: str | None) -> None:
        if sid:
            self._sessions.pop(sid, None)

    def close_key(self, key_id: str) -> None:
        """End every session of a key (it was revoked)."""
        for sid in [s for s, found in self._sessions.items() if found.key_id == key_id]:
            self.close(sid)
