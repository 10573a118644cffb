"""How every `tawa` command speaks: tables for people, JSON for scripts, and
exit codes that mean something (0 ok, 1 refused or blocked, 2 bad input)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.table import Table

EXIT_REFUSED, EXIT_BAD_INPUT = 1, 2

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> None:
    """Columns as kubectl prints them: no borders (they cost 3 characters a column on an
    80-column terminal), and a value too long for its column wraps, never cut to `…`."""
    table = Table(title=title, title_justify="left", header_style="bold", box=None, pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console().print(table)


def fail(message: str, code: int = EXIT_REFUSED) -> NoReturn:
    """One line on stderr, then a meaningful exit code."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def tokens(n: int) -> str:
    return f"{n:,}"
