"""The console's session store and page helpers (pure, no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tawa.console import pages
from tawa.console.sessions import SessionStore
from tawa.console.settings import ConsoleSettings


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_session_ends_after_its_time() -> None:
    clock = Clock()
    store = SessionStore(ttl=60, max_sessions=10, clock=clock)
    sid = store.open("twk_k1_s", "acme", "owner", "k1")
    assert store.get(sid) is not None and store.get(sid).org == "acme"  # type: ignore[union-attr]
    clock.now = 60
    assert store.get(sid) is None and len(store) == 0


def test_the_store_is_bounded_and_drops_the_oldest() -> None:
    store = SessionStore(ttl=60, max_sessions=2)
    first, second, third = (store.open(f"twk_k{i}_s", "acme", "viewer", f"k{i}") for i in range(3))
    assert store.get(first) is None and store.get(second) and store.get(third) and len(store) == 2


def test_revoking_a_key_ends_all_its_sessions() -> None:
    store = SessionStore(ttl=60, max_sessions=10)
    mine, again, other = store.open("a", "acme", "owner", "k1"), store.open("a", "acme", "owner", "k1"), \
        store.open("b", "acme", "owner", "k2")
    store.close_key("k1")
    assert store.get(mine) is None and store.get(again) is None and store.get(other) is not None


def test_the_key_is_never_in_a_sessions_repr() -> None:
    store = SessionStore(ttl=60, max_sessions=10)
    assert "twk_secret" not in repr(store.get(store.open("twk_secret", "acme", "owner", "k1")))


def test_numbers_and_dollars_read_as_people_write_them() -> None:
    assert pages.n(100_000) == "100,000"
    assert [pages.dollars(p) for p in pages.PRESETS] == ["$100", "$250", "$500", "$1,000"]
    assert pages.dollars(12_345) == "$123.45"
    assert pages.e('<script>"') == "&lt;script&gt;&quot;"


def test_settings_read_flags_then_tawa_console_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TAWA_CONFIG", str(tmp_path / "none.yaml"))
    monkeypatch.setenv("TAWA_CONSOLE_PORT", "9000")
    monkeypatch.setenv("TAWA_CONSOLE_SECURE_COOKIES", "true")
    assert (ConsoleSettings().port, ConsoleSettings().secure_cookies) == (9000, True)
    assert ConsoleSettings(port=9001).port == 9001
    assert ConsoleSettings().wallet_url == "http://127.0.0.1:8081"
