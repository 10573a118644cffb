"""One refusal type for the wallet and Janus (pure): a request answered with an error, nothing done.

The JSON body is `{"error": "UPPER_SNAKE_CODE", "message": "what and the fix", "field": ..., ...extra}`
(`field` only when the refusal names the request field at fault).
"""

from __future__ import annotations

from typing import Any


class Refusal(Exception):
    """A request refused: an HTTP status, an error code, a message saying what to fix, and extra fields."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field, self.extra = status, code, message, field, extra

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        body.update(self.extra)
        return body

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Refusal) and self.status == other.status and self.body() == other.body()

    __hash__ = None  # type: ignore[assignment]
