"""Per-org pre-authorised holds, accounted locally (pure: no I/O, times passed in).

Janus takes a hold of a chunk of tokens from an org's wallet, then promises
pieces of it to requests without asking the wallet again. A piece is *reserved*
while its request is upstream, *unsettled* once a 2xx made it a charge that the
wallet has not confirmed yet, and goes back to *free* when the request was not
charged. Because every promise comes out of `free`, an org can never be charged
more than the wallet held for it: that is the no-overspend guarantee.

Fail-open usage (wallet unreachable) has no hold behind it; it is counted as
`exposure` per org and capped.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LocalHold:
    id: str
    org: str
    tokens: int
    created_at: float
    expires_at: float  # on the same clock as `now` below
    free: int
    reserved: int = 0
    unsettled: int = 0
    retired: bool = False
    last_used: float = 0.0

    def busy(self) -> bool:
        return self.reserved > 0 or self.unsettled > 0


@dataclass(frozen=True)
class Reservation:
    org: str
    tokens: int
    hold: LocalHold | None  # None: fail-open, no hold behind it


@dataclass
class _Org:
    holds: list[LocalHold] = field(default_factory=list)
    chunk: int = 0
    last_hold_at: float = float("-inf")
    exposure: int = 0


class HoldBook:
    """Every org's local holds in one worker.

    `margin` is how long before its expiry a hold stops taking new requests: a
    request promised from it must be able to finish upstream and be settled
    before the wallet expires the hold.
    """

    def __init__(self, *, chunk: int, chunk_max: int, margin: float, grow_within: float = 10.0) -> None:
        self.base_chunk, self.chunk_max, self.margin, self.grow_within = chunk, chunk_max, margin, grow_within
        self._orgs: dict[str, _Org] = {}

    def _org(self, org: str) -> _Org:
        state = self._orgs.get(org)
        if state is None:
            state = self._orgs[org] = _Org(chunk=self.base_chunk)
        return state

    # ----- the hot path

    def reserve(self, org: str, tokens: int, now: float) -> Reservation | None:
        """Promise `tokens` from a usable hold of `org`, or None when none has enough."""
        for hold in self._org(org).holds:
            if not hold.retired and hold.free >= tokens and now < hold.expires_at - self.margin:
                hold.free -= tokens
                hold.reserved += tokens
                hold.last_used = now
                return Reservation(org, tokens, hold)
        return None

    def commit(self, res: Reservation) -> None:
        """The upstream answered 2xx: the reservation becomes a charge to settle."""
        if res.hold is not None:
            res.hold.reserved -= res.tokens
            res.hold.unsettled += res.tokens

    def cancel(self, res: Reservation) -> None:
        """Not charged (non-2xx, upstream error, timeout): the tokens are free again."""
        if res.hold is not None:
            res.hold.reserved -= res.tokens
            res.hold.free += res.tokens
        else:
            self._org(res.org).exposure -= res.tokens

    def settled(self, hold_id: str | None, org: str, tokens: int) -> None:
        """The wallet confirmed a charge (or it left this book for the spool's care)."""
        for hold in self._org(org).holds:
            if hold.id == hold_id:
                hold.unsettled -= tokens
                return

    # ----- taking holds

    def next_chunk(self, org: str, price: int, now: float) -> int:
        """Size of the next hold: doubling while an org keeps using holds up quickly,
        back to the base after a quiet spell (large idle holds lock an org's tokens)."""
        state = self._org(org)
        if now - state.last_hold_at <= self.grow_within:
            state.chunk = min(self.chunk_max, state.chunk * 2)
        else:
            state.chunk = self.base_chunk
        return max(price, state.chunk)

    def add(self, org: str, hold_id: str, tokens: int, now: float, ttl: float) -> LocalHold:
        state = self._org(org)
        hold = LocalHold(hold_id, org, tokens, now, now + ttl, free=tokens, last_used=now)
        state.holds.append(hold)
        state.last_hold_at = now
        return hold

    def running_low(self, org: str, now: float, horizon: float = 5.0) -> bool:
        """Less than a quarter chunk promisable over the next `horizon` seconds: time to
        take the next hold in the background, before a request has to wait for it."""
        state = self._org(org)
        usable = sum(h.free for h in state.holds
                     if not h.retired and now + horizon < h.expires_at - self.margin)
        return usable < max(1, state.chunk // 4)

    def free(self, org: str, now: float) -> int:
        """Tokens this worker could still promise to `org` from live holds."""
        return sum(h.free for h in self._org(org).holds if not h.retired and now < h.expires_at)

    # ----- fail-open exposure

    def reserve_unbacked(self, org: str, tokens: int, cap: int) -> Reservation | None:
        state = self._org(org)
        if state.exposure + tokens > cap:
            return None
        state.exposure += tokens
        return Reservation(org, tokens, None)

    def exposure(self, org: str) -> int:
        return self._org(org).exposure

    def sweep(self, now: float, idle_after: float) -> list[LocalHold]:
        """Retire holds near expiry, used up or idle; drop the finished ones.

        Returns the dropped holds that still have free tokens, for the caller to
        release (expired ones are left to the wallet, which frees them itself).
        """
        to_release: list[LocalHold] = []
        for state in self._orgs.values():
            kept: list[LocalHold] = []
            for hold in state.holds:
                if now >= hold.expires_at - self.margin or hold.free == 0 or now - hold.last_used >= idle_after:
                    hold.retired = True
                if hold.retired and (not hold.busy() or now >= hold.expires_at):
                    if hold.free > 0 and now < hold.expires_at:
                        to_release.append(hold)
                    continue
                kept.append(hold)
            state.holds = kept
        return to_release

    def open_holds(self) -> list[LocalHold]:
        return [h for state in self._orgs.values() for h in state.holds]
