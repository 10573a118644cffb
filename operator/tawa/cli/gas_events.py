"""`tawa gas` / `tawa gas events`: what the wallet recorded (filled in with the wallet client)."""

from __future__ import annotations

import click


@click.command(name="recent")
def show_recent() -> None:
    """Recent gas events."""
    raise click.ClickException("not available yet")
