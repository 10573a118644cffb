"""`tawa dev` commands and the cluster-facing top-level commands."""

from __future__ import annotations

import click


@click.group(name="dev")
def group() -> None:
    """The local stack: control plane, wallet, Janus and operator."""


top_level_commands: tuple[click.Command, ...] = ()
