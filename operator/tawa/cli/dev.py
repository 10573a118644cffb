"""`tawa dev`: the local stack — control plane, wallet on SQLite, Janus, operator."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import click

from tawa.cli.output import EXIT_REFUSED, console, fail, json_option, print_json


@click.group(name="dev")
def group() -> None:
    """The local stack: control plane, wallet, Janus and operator."""


@group.command()
@click.option("--detach", is_flag=True, help="Return once everything is up; stop it with `tawa dev down`.")
@click.option("--hosting-period", type=click.FloatRange(min=0.5), default=3600.0, show_default=True,
              help="Seconds per hosting 'hour': short periods make hourly charges visible in a demo.")
@click.option("--suspend-after", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Seconds of unpaid hosting before a Component is scaled to 0 until paid; 0: never.")
@click.option("--env", "env_name", default="dev", show_default=True, help="Environment name ({service}-{env}).")
@click.option("--kubeconfig", type=click.Path(exists=True, dir_okay=False),
              help="Use this cluster (kind, k3d, a real one) instead of starting a local control plane.")
def up(detach: bool, hosting_period: float, suspend_after: float, env_name: str, kubeconfig: str | None) -> None:
    """Start the stack (idempotent: a running stack is left as it is)."""
    from tawa.devcluster import build, stack

    out = console()
    if stack.running_state() is None and kubeconfig is None and not build.bin_dir().joinpath("kwok").exists():
        out.print("[bold]Building the control plane from its Go modules[/] (first time only, ~9 minutes; "
                  f"cached in {build.cache_root()})")
        build.ensure_control_plane()
    with out.status("Starting control plane, wallet, Janus and operator..."):
        state = stack.up(hosting_period, env_name, kubeconfig, suspend_after)
    out.print(f"[green]Up.[/] Logs in {state.logs}. For your shell:")
    for key, value in state.exports().items():
        click.echo(f"export {key}={value}")
    if detach:
        return
    out.print("Press Ctrl-C to stop.")
    try:
        while stack.running_state() is not None:
            time.sleep(1)
        fail("a process of the stack exited; see its log in " + state.logs, EXIT_REFUSED)
    except KeyboardInterrupt:
        stack.down()


@group.command()
@click.option("--purge", is_flag=True, help="Also delete the wallet database and cluster state.")
def down(purge: bool) -> None:
    """Stop everything `tawa dev up` started."""
    from tawa.devcluster import stack

    stopped = stack.down()
    click.echo(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")
    if purge:
        shutil.rmtree(stack.state_dir(), ignore_errors=True)
        click.echo(f"deleted {stack.state_dir()}")


@group.command(name="env")
@json_option
def env_command(as_json: bool) -> None:
    """Print `export` lines for the running stack: eval "$(tawa dev env)"."""
    from tawa.devcluster import stack

    state = stack.running_state()
    if state is None:
        fail("the dev stack is not running; start it with `tawa dev up --detach`")
    if as_json:
        print_json(state.exports())
        return
    for key, value in state.exports().items():
        click.echo(f"export {key}={value}")




@group.command()
@click.option("--examples", type=click.Path(exists=True, file_okay=False, path_type=Path), default="examples",
              show_default=True, help="Folder of catalog-info.yaml files to deploy.")
def demo(examples: Path) -> None:
    """Deploy the examples on the running stack and tell what happened."""
    from tawa.devcluster import demo as story
    from tawa.devcluster import stack

    state = stack.running_state()
    if state is None:
        fail("the dev stack is not running; start it with `tawa dev up --detach`")
    try:
        story.run(state, examples, click.echo)
    except TimeoutError as exc:
        fail(str(exc))
