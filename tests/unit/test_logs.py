"""The services' log lines: one JSON object each, naming the request they concern."""

from __future__ import annotations

import json
import logging
import sys

from tawa import logs


def line(record: logging.LogRecord) -> dict[str, object]:
    text = logs.JsonFormatter().format(record)
    assert "\n" not in text
    return json.loads(text)


def record(message: str, level: int = logging.ERROR, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("tawa.wallet", level, __file__, 1, message, (), None)
    rec.__dict__.update(extra)
    return rec


def test_a_line_is_one_json_object_with_time_level_logger_and_message() -> None:
    entry = line(record("database error: locked"))
    assert entry["level"] == "error" and entry["logger"] == "tawa.wallet"
    assert entry["message"] == "database error: locked"
    assert str(entry["time"]).endswith("Z") and "requestId" not in entry


def test_the_request_being_served_names_the_line() -> None:
    token = logs.REQUEST_ID.set("req-7f3a")
    try:
        assert line(record("database error"))["requestId"] == "req-7f3a"
    finally:
        logs.REQUEST_ID.reset(token)
    assert "requestId" not in line(record("after the request"))


def test_extra_fields_are_kept_and_an_explicit_request_id_wins() -> None:
    token = logs.REQUEST_ID.set("outer")
    try:
        entry = line(record("refused", logging.INFO, requestId="inner", service="docman"))
    finally:
        logs.REQUEST_ID.reset(token)
    assert entry["requestId"] == "inner" and entry["service"] == "docman"


def test_an_exception_is_part_of_the_same_line() -> None:
    try:
        raise RuntimeError("disk full")
    except RuntimeError:
        rec = logging.LogRecord("tawa.wallet", logging.ERROR, __file__, 1, "hold sweep failed", (), sys.exc_info())
    entry = line(rec)
    assert "RuntimeError: disk full" in str(entry["exception"])
