"""Failed authentications per source: slowed past the limit, forgotten after the window, bounded memory."""

from __future__ import annotations

from tawa.wallet.throttle import FailedAuthThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_source_is_slowed_past_the_limit_until_its_window_ends() -> None:
    clock = Clock()
    throttle = FailedAuthThrottle(limit=3, window=60, clock=clock)
    for _ in range(2):
        throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") is None
    throttle.failed("10.0.0.1")
    clock.now += 10.5
    assert throttle.retry_after("10.0.0.1") == 50  # whole seconds, rounded up
    assert throttle.retry_after("10.0.0.2") is None  # per source
    clock.now += 50
    assert throttle.retry_after("10.0.0.1") is None
    throttle.failed("10.0.0.1")  # a new window: counting starts again
    assert throttle.retry_after("10.0.0.1") is None


def test_memory_is_bounded_forgetting_the_least_recent_source_first() -> None:
    throttle = FailedAuthThrottle(limit=1, window=60, max_sources=100, clock=Clock())
    for i in range(10_000):
        throttle.failed(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
        assert len(throttle) <= 100
    assert throttle.retry_after("10.0.0.0") is None  # forgotten
    assert throttle.retry_after("10.0.39.15") is not None  # the last one
