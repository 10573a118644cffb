"""`tawa dev`: the local stack — control plane, wallet on SQLite, Janus, operator, console."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tawa.cli.output import EXIT_BAD_INPUT, EXIT_REFUSED, console, fail, json_option, print_json
from tawa.devcluster.token import DEFAULT_LIFETIME, MAX_LIFETIME

if TYPE_CHECKING:
    from tawa.devcluster.stack import StackState


@click.group(name="dev")
def group() -> None:
    """The local stack: control plane, wallet, Janus, operator and the Developer Console."""


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
    with out.status("Starting control plane, wallet, Janus, operator and console..."):
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
@click.option("--purge", is_flag=True, help="Also delete the stack's logs: nothing is left of it.")
def down(purge: bool) -> None:
    """Stop everything `tawa dev up` started and delete its state: the cluster and the wallet
    together (so the next `tawa dev up` starts afresh and never charges an hour twice).
    The logs stay, unless --purge."""
    from tawa.devcluster import stack

    state = stack.load_state()
    stopped = stack.down()
    click.echo(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")
    if state is None or state.owns_cluster():
        click.echo(f"deleted the cluster and the wallet in {stack.state_dir()}")
    else:
        click.echo(f"deleted the wallet in {stack.state_dir()}; the cluster of {state.kubeconfig} is not the "
                   "stack's: its Components stay (delete them with kubectl)")
    if purge:
        shutil.rmtree(stack.state_dir(), ignore_errors=True)
        click.echo(f"deleted {stack.state_dir()}")


def _running() -> StackState:
    from tawa.devcluster import stack

    state = stack.running_state()
    if state is None:
        fail("the dev stack is not running; start it with `tawa dev up --detach`")
    return state


@group.command(name="env")
@json_option
def env_command(as_json: bool) -> None:
    """Print `export` lines for the running stack: eval "$(tawa dev env)".

    KUBECONFIG, the wallet's URL and token, Janus's URL, TAWA_JANUS_JWT_SECRET (the
    HS256 secret the stack's Janus checks service JWTs with), TAWA_ENV and TAWA_CONSOLE_URL
    (the Developer Console; log in with an org key: `tawa wallet keys create ORG --role owner`)."""
    state = _running()
    if as_json:
        print_json(state.exports())
        return
    for key, value in state.exports().items():
        click.echo(f"export {key}={value}")


@group.command()
@click.argument("org")
@click.argument("service")
@click.option("--lifetime", type=click.IntRange(1, MAX_LIFETIME), default=DEFAULT_LIFETIME, show_default=True,
              help=f"Seconds the token is valid; Janus takes at most {MAX_LIFETIME:,} (a day).")
@json_option
def token(org: str, service: str, lifetime: int, as_json: bool) -> None:
    """A service JWT for the stack's Janus: the service SERVICE of org ORG calling.

    Send it as `Authorization: Bearer TOKEN`; ORG pays for the calls (API gas comes from its
    purchased and earned tokens, never intro). Claims programId=ORG, serviceId=SERVICE,
    aud=janus, iat and exp; HS256 with the stack's TAWA_JANUS_JWT_SECRET."""
    from tawa import names
    from tawa.cli.wallet import checked_org
    from tawa.devcluster.token import service_claims, service_token

    org = checked_org(org)
    if not names.is_dns_label(service):
        fail("SERVICE must be a service name: a DNS label (lower-case letters, digits and '-', "
             "at most 63 characters)", EXIT_BAD_INPUT)
    claims = service_claims(org, service, int(time.time()), lifetime)
    signed = service_token(_running().jwt_secret, claims)
    if as_json:
        expires = datetime.fromtimestamp(claims["exp"], UTC).isoformat().replace("+00:00", "Z")
        print_json({"token": signed, "claims": claims, "expiresAt": expires})
        return
    click.echo(signed)


@group.command()
@click.option("--examples", type=click.Path(exists=True, file_okay=False, path_type=Path), default="examples",
              show_default=True, help="Folder of catalog-info.yaml files to deploy.")
def demo(examples: Path) -> None:
    """Deploy the examples on the running stack and tell what happened."""
    from tawa.devcluster import demo as story

    state = _running()
    try:
        story.run(state, examples, click.echo)
    except story.BadExample as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    except TimeoutError as exc:
        fail(str(exc))
