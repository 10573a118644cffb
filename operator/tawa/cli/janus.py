"""`tawa janus` commands."""

from __future__ import annotations

import click


@click.group(name="janus")
def group() -> None:
    """janus commands."""
