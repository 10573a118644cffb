"""`tawa operator` commands."""

from __future__ import annotations

import click


@click.group(name="operator")
def group() -> None:
    """operator commands."""
