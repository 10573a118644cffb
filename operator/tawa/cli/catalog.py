"""`tawa catalog` commands."""

from __future__ import annotations

import click


@click.group(name="catalog")
def group() -> None:
    """catalog commands."""
