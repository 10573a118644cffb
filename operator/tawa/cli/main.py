"""The `tawa` command: one group per area, each defined in its own module."""

from __future__ import annotations

import os

import click

from tawa import __version__
from tawa.cli import catalog, console, deploy, dev, gas, janus, operator, wallet
from tawa.cli.output import EXIT_BAD_INPUT, fail
from tawa.settings import ConfigError, SharedSettings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tawa")
def cli() -> None:
    """Tawa gas platform: Components, wallets, the deploy gate and Janus.

    Settings come from flags, then TAWA_* environment variables, then the config
    file ($TAWA_CONFIG or ~/.config/tawa/config.yaml). Shell completion:
    eval "$(_TAWA_COMPLETE=bash_source tawa)" (zsh_source, fish_source likewise).
    Exit codes: 0 ok, 1 refused or blocked, 2 bad input.
    """
    try:
        settings = SharedSettings()  # a broken config file is one line here, whatever the command
    except ConfigError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    if settings.kubeconfig:
        # The kubernetes client and kopf read KUBECONFIG from the process environment themselves.
        os.environ["KUBECONFIG"] = settings.kubeconfig


for group in (catalog.group, gas.group, wallet.group, janus.group, operator.group, dev.group, console.group):
    cli.add_command(group)

for command in (deploy.deploy, deploy.status):
    cli.add_command(command)


if __name__ == "__main__":
    cli()
