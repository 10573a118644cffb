"""`tawa gas` commands."""

from __future__ import annotations

import click


@click.group(name="gas")
def group() -> None:
    """gas commands."""
