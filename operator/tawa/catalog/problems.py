"""Validation problems that name the field at fault and the fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from tawa.catalog.models import ENV_NAME, ROUTE_PATH, SERVICE_NAME, CatalogInfo
from tawa.names import DNS_LABEL

PATTERN_HELP = {
    DNS_LABEL: "must be a DNS label: lowercase letters, digits and '-', at most 63 "
    "characters, starting and ending with a letter or digit",
    SERVICE_NAME: "must be a DNS-1035 label, as it names the Service: lowercase letters, digits and '-', "
    "at most 63 characters, starting with a letter and ending with a letter or digit",
    ENV_NAME: "must be an environment variable name: letters, digits and '_', not "
    "starting with a digit",
    ROUTE_PATH: "must be a path starting with '/', such as /documents, with no "
    "spaces, empty segments, query or fragment",
}


def _aliases(model: type[BaseModel]) -> set[str]:
    names = set()
    for name, info in model.model_fields.items():
        names.add(info.alias or name)
        for arg in getattr(info.annotation, "__args__", ()) or ():
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                names |= _aliases(arg)
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            names |= _aliases(info.annotation)
    return names


KNOWN_FIELDS = sorted(_aliases(CatalogInfo))


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class CatalogError(ValueError):
    """A catalog-info.yaml or Component spec with one or more problems."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(map(str, self.problems)))


def field_path(loc: Iterable[int | str]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path


def _got(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _message(error: Mapping[str, Any], known_fields: Sequence[str]) -> str:
    kind, ctx = error["type"], error.get("ctx", {})
    name = str(error["loc"][-1]) if error["loc"] else ""
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(name, known_fields, n=1)
        return f"unknown field; did you mean {close[0]!r}?" if close else "unknown field; remove it"
    if kind == "string_pattern_mismatch":
        return f"{PATTERN_HELP.get(ctx.get('pattern'), error['msg'])} (got {_got(error['input'])})"
    if kind in {"int_type", "int_from_float", "int_parsing"}:
        return f"must be a whole number (got {_got(error['input'])})"
    if kind in {"greater_than_equal", "less_than_equal"}:
        bound = "at least" if kind == "greater_than_equal" else "at most"
        limit = ctx.get("ge", ctx.get("le"))
        return f"must be {bound} {limit} (got {_got(error['input'])})"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')} (got {_got(error['input'])})"
    return f"{error['msg'][0].lower()}{error['msg'][1:]} (got {_got(error['input'])})"


def problems_from(error: ValidationError, prefix: Sequence[str | int] = ()) -> list[Problem]:
    """Turn pydantic's errors into one Problem per field, with the fix."""
    return [
        Problem(field_path((*prefix, *err["loc"])), _message(err, KNOWN_FIELDS))
        for err in error.errors()
    ]
