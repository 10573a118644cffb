"""`tawa deploy` and `tawa status`: the cluster-facing commands a service owner uses."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from tawa import names
from tawa.catalog.problems import CatalogError
from tawa.catalog.render import render_component
from tawa.catalog.validate import Component, check_deployable
from tawa.cli.catalog import env_option, file_argument, load_or_exit
from tawa.cli.output import (
    EXIT_BAD_INPUT,
    EXIT_REFUSED,
    console,
    fail,
    json_option,
    print_json,
    print_table,
    tokens,
)
from tawa.gas.report import component_row
from tawa.gas.tiers import HOURS_PER_MONTH
from tawa.resource import condition

FIELD_MANAGER = "tawa-cli"
CLOSED_REASONS = {"InsufficientReserve", "WalletNotFound", "WalletUnavailable"}


def _wallet_client() -> Any:
    from tawa.wallet.client import WalletClient

    return WalletClient()


def _kube() -> Any:
    from tawa.kube import NoCluster, api_client

    try:
        return api_client()
    except NoCluster as exc:
        fail(str(exc), EXIT_BAD_INPUT)


def runway_days(balance: int, tokens_per_hour: int) -> float | None:
    return None if tokens_per_hour <= 0 else balance / tokens_per_hour / 24


def _burning_elsewhere(component: Component) -> int | None:
    """Tokens/hour the owner's other Components burn now (their Ready pods × tier);
    None when no cluster can be asked."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    from tawa.kube import NoCluster, api_client
    from tawa.kube.components import org_components

    try:
        rows = [component_row(c) for c in org_components(api_client(), component.spec.owner)]
    except (NoCluster, ApiException, HTTPError, OSError):
        return None
    here = (component.namespace, component.name)
    return sum(int(r["tokensPerHour"]) for r in rows if (r["namespace"], r["name"]) != here)


def _dry_run(component: Component, as_json: bool) -> None:
    from tawa.wallet.client import WalletError

    tier, replicas = component.tier, component.spec.replicas
    per_hour, reserve = tier.tokens_per_hour * replicas, tier.reserve(replicas)
    try:
        with _wallet_client() as wallet:
            check = wallet.check_reserve(component.spec.owner, tier.name, replicas)
    except WalletError as exc:
        fail(f"cannot check the wallet of {component.spec.owner!r}: {exc}", EXIT_REFUSED)
    elsewhere = _burning_elsewhere(component)
    org_per_hour = per_hour + (elsewhere or 0)
    runway = runway_days(check.balance, org_per_hour)
    report = {"service": component.name, "owner": component.spec.owner, "tier": tier.name, "replicas": replicas,
              "tokensPerHour": per_hour, "tokensPerMonth": per_hour * HOURS_PER_MONTH, "reserve": reserve,
              "balance": check.balance, "shortfall": check.shortfall, "gateOpen": check.ok,
              "otherTokensPerHour": elsewhere, "orgTokensPerHour": org_per_hour,
              "runwayDays": None if runway is None else round(runway, 1)}
    if as_json:
        print_json(report)
    else:
        click.echo(f"{component.name}: {replicas} × {tier.name} = {tokens(per_hour)} tokens/hour "
                   f"({tokens(per_hour * HOURS_PER_MONTH)}/month); 3-month reserve {tokens(reserve)}")
        burn = ("(no cluster: the owner's other Components are not counted)" if elsewhere is None else
                f"with the {tokens(elsewhere)} tokens/hour its other Components burn")
        click.echo(f"{names.wallet_id(component.spec.owner)}: {tokens(check.balance)} tokens, a runway of "
                   f"{report['runwayDays']} days at {tokens(org_per_hour)} tokens/hour {burn}")
        click.echo("the deploy gate would open" if check.ok else
                   f"the deploy gate would stay closed: {tokens(check.shortfall)} tokens short")
    raise SystemExit(0 if check.ok else EXIT_REFUSED)


def _rolled_out(api: Any, namespace: str, name: str, replicas: int) -> tuple[bool, str]:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        dep = client.AppsV1Api(api).read_namespaced_deployment(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return False, "waiting for the Deployment"
        raise
    status = dep.status
    updated, available = status.updated_replicas or 0, status.available_replicas or 0
    done = (status.observed_generation or 0) >= dep.metadata.generation and updated == replicas \
        and available == replicas and (status.replicas or 0) == replicas
    return done, f"rolling out: {updated}/{replicas} updated, {available}/{replicas} available"


def _covered_now(obj: dict[str, Any]) -> bool:
    """Whether the wallet covers the reserve now, although the gate still says no:
    tokens bought since the operator's last check reopen it within the operator's next
    wallet poll (TAWA_GATE_POLL_INTERVAL)."""
    from tawa.wallet.client import WalletError

    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    try:
        with _wallet_client() as wallet:
            return bool(wallet.check_reserve(spec["owner"], status.get("tier", "nano"),
                                             int(spec.get("replicas", 1))).ok)
    except (WalletError, KeyError):
        return False


def _answers(obj: dict[str, Any], generation: int, tier: str) -> bool:
    """Whether the status answers this apply: the tier is an annotation, which does not
    move the generation, so the status must also name the tier it was decided for."""
    status = obj.get("status") or {}
    return status.get("observedGeneration", 0) >= generation and status.get("tier") == tier \
        and bool(condition(status, "Valid"))


def _outcome(api: Any, obj: dict[str, Any], generation: int, component: Component) -> tuple[int | None, str]:
    """(exit code or None while waiting, what to show)."""
    if not _answers(obj, generation, component.tier.name):
        return None, "waiting for the operator"
    replicas, valid = component.spec.replicas, condition(obj.get("status"), "Valid") or {}
    if valid.get("status") == "False":
        return EXIT_BAD_INPUT, valid["message"]
    gate = condition(obj.get("status"), "DeployGate") or {}
    if gate.get("status") == "False" and gate.get("reason") in CLOSED_REASONS:
        if gate["reason"] == "InsufficientReserve" and _covered_now(obj):
            return None, "the wallet covers the reserve now; waiting for the operator to reopen the gate"
        return EXIT_REFUSED, f"{gate['reason']}: {gate['message']}"
    done, progress = _rolled_out(api, obj["metadata"]["namespace"], obj["metadata"]["name"], replicas)
    return (0, progress) if done else (None, progress)


def _wait(api: Any, namespace: str, name: str, generation: int, component: Component,
          timeout: float) -> tuple[int, str]:
    from tawa.kube.components import get_component

    deadline = time.monotonic() + timeout
    message = "waiting for the operator"
    with console().status(message) as spinner:
        while time.monotonic() < deadline:
            obj = get_component(api, namespace, name)
            if obj is None:
                return EXIT_REFUSED, f"{namespace}/{name} was deleted while waiting"
            code, message = _outcome(api, obj, generation, component)
            if code is not None:
                return code, message
            spinner.update(f"{namespace}/{name}: {message}")
            time.sleep(1)
    return EXIT_REFUSED, (f"timed out after {timeout:.0f}s ({message}); "
                          f"see `kubectl describe comp -n {namespace} {name}`")


def _deployable_or_exit(file: Path, manifest: dict[str, Any]) -> Component:
    """The Component exactly as it would be applied, checked as the operator checks it:
    nothing it would refuse (an empty --image, say) is applied."""
    meta = manifest["metadata"]
    try:
        return check_deployable(meta["name"], meta.get("annotations") or {}, manifest["spec"], meta["namespace"])
    except CatalogError as exc:
        fail(f"{file}: " + "; ".join(str(p) for p in exc.problems) + "; nothing was applied", EXIT_BAD_INPUT)


@click.command()
@file_argument
@click.option("--image", required=True, help="Container image to run.")
@env_option
@click.option("--replicas", type=click.IntRange(0, 1000), default=None, help="Override spec.replicas.")
@click.option("--dry-run", is_flag=True, help=(
    "Show tokens/hour, the reserve and the runway at what the org would burn (its other Components' "
    "running pods included); apply nothing."))
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for the gate and the rollout.")
@click.option("--timeout", type=float, default=300, show_default=True, help="Seconds to wait.")
@json_option
def deploy(file: Path, image: str, env_name: str, replicas: int | None, dry_run: bool, wait: bool,
           timeout: float, as_json: bool) -> None:
    """Apply FILE as a Component and wait until it runs, or say why it cannot.

    The Component is checked as the operator checks it first (an invalid one, e.g.
    with an empty --image, is not applied), then the wait is for the operator's
    answer to this apply: its generation and its tier.

    Exit codes: 0 running, 1 blocked by the deploy gate (or timed out), 2 invalid spec.
    """
    catalog, _ = load_or_exit(file)
    manifest = render_component(catalog, env_name, image, replicas)
    component = _deployable_or_exit(file, manifest)
    if dry_run:
        _dry_run(component, as_json)
    from tawa.kube.components import apply_component

    api = _kube()
    namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
    applied = apply_component(api, manifest, FIELD_MANAGER)
    generation = applied["metadata"]["generation"]
    if not wait:
        code, message = 0, f"applied {namespace}/{name} (generation {generation})"
    else:
        code, message = _wait(api, namespace, name, generation, component, timeout)
    if as_json:
        print_json({"namespace": namespace, "name": name, "generation": generation,
                    "outcome": {0: "running" if wait else "applied", 1: "blocked", 2: "invalid"}[code],
                    "message": message})
    elif code == 0:
        click.echo(f"{namespace}/{name}: {message}" if not wait else
                   f"{namespace}/{name} is running ({component.spec.replicas} × {component.tier.name})")
    else:
        click.echo(f"error: {namespace}/{name}: {message}", err=True)
    raise SystemExit(code)


@click.command()
@click.option("--org", help="The org (default: spec.owner of ./catalog-info.yaml).")
@json_option
def status(org: str | None, as_json: bool) -> None:
    """Wallet balances, the org's Components and its runway."""
    from tawa.kube.components import org_components
    from tawa.wallet.client import WalletError

    if org is None:
        if not Path("catalog-info.yaml").exists():
            fail("name the org with --org, or run in a folder with a catalog-info.yaml", EXIT_BAD_INPUT)
        org = load_or_exit(Path("catalog-info.yaml"))[1].spec.owner
    try:
        with _wallet_client() as client:
            wallet = client.get_wallet(org)
    except WalletError as exc:
        fail(f"{names.wallet_id(org)}: {exc}", EXIT_REFUSED)
    rows = [component_row(c) for c in org_components(_kube(), org)]
    per_hour = sum(r["tokensPerHour"] for r in rows)
    runway = runway_days(wallet.available.hosting, per_hour)
    report = {"org": org, "wallet": {"id": wallet.id, "balances": vars(wallet.balances), "held": wallet.held,
                                     "total": wallet.total},
              "components": rows, "tokensPerHour": per_hour,
              "runwayDays": None if runway is None else round(runway, 1)}
    if as_json:
        print_json(report)
        return
    b = wallet.balances
    click.echo(f"{wallet.id}: {tokens(wallet.total)} tokens (intro {tokens(b.intro)}, purchased "
               f"{tokens(b.purchased)}, earned {tokens(b.earned)}; held {tokens(wallet.held)})")
    print_table(("NAMESPACE", "COMPONENT", "TIER", "GATE", "READY", "TOKENS/H"),
                [(r["namespace"], r["name"], r["tier"], r["gate"], r["ready"], r["tokensPerHour"]) for r in rows])
    click.echo(f"burning {tokens(per_hour)} tokens/hour: " +
               ("no running pods" if runway is None else f"runway {report['runwayDays']} days"))
