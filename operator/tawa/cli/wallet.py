"""`tawa wallet` commands."""

from __future__ import annotations

import click


@click.group(name="wallet")
def group() -> None:
    """wallet commands."""
