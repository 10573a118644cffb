"""benchmarks/report.py: figures recorded per benchmark, the README table rewritten between its markers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import report


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.delenv("TAWA_BENCH_NO_RECORD", raising=False)
    monkeypatch.setattr(report, "RESULTS", tmp_path / "results.json")
    monkeypatch.setattr(report, "README", tmp_path / "README.md")
    return report.RESULTS, report.README


def test_record_keeps_the_latest_run_of_each_benchmark_and_rewrites_only_the_table(files: tuple[Path, Path]) -> None:
    results, readme = files
    readme.write_text(f"# Benchmarks\n\nhand-written intro\n\n{report.BEGIN}\nold table\n{report.END}\n\nfooter\n")
    report.record("soak", {"seconds": 300, "ok": False}, command="make soak")
    report.record("bench-operator", {"components": 1000, "operator_rss_mb": 180.5}, command="make bench-operator")
    report.record("soak", {"seconds": 300, "ok": True, "kills": {"janus": 3}}, command="make soak")

    stored = json.loads(results.read_text())
    assert set(stored) == {"soak", "bench-operator"}
    assert stored["soak"]["figures"] == {"seconds": 300, "ok": True, "kills": {"janus": 3}}
    assert stored["soak"]["machine"]["cores"] >= 1 and stored["soak"]["date"]
    text = readme.read_text()
    assert text.startswith("# Benchmarks\n\nhand-written intro") and text.rstrip().endswith("footer")
    assert "old table" not in text
    assert "| soak | seconds | 300 | `make soak` |" in text
    assert "| bench-operator | components | 1,000 | `make bench-operator` |" in text
    assert "| ok | true |" in text and '{"janus":3}' in text and "180.5" in text


def test_no_record_leaves_both_files_alone(files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    results, readme = files
    monkeypatch.setenv("TAWA_BENCH_NO_RECORD", "1")
    assert report.record("soak", {"ok": True}) is None
    assert not results.exists() and not readme.exists()
