"""The `tawa` command: one group per area, each defined in its own module."""

from __future__ import annotations

import click

from tawa import __version__
from tawa.cli import catalog, deploy, dev, gas, janus, operator, wallet


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tawa")
def cli() -> None:
    """Tawa gas platform: Components, wallets, the deploy gate and Janus."""


for group in (catalog.group, gas.group, wallet.group, janus.group, operator.group, dev.group):
    cli.add_command(group)

for command in (deploy.deploy, deploy.status):
    cli.add_command(command)


if __name__ == "__main__":
    cli()
