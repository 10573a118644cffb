"""`tawa gas`: API-gas pricing, and the gas events the wallet recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import yaml

from tawa.catalog.problems import CatalogError
from tawa.catalog.validate import Component, check_component
from tawa.cli import gas_events
from tawa.cli.catalog import DEFAULT_FILE, load_or_exit
from tawa.cli.output import EXIT_BAD_INPUT, fail, json_option, print_json, print_table, tokens
from tawa.gas.platform import load_platform_table
from tawa.gas.report import pricing_report

platform_option = click.option(
    "--platform-prices", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="TAWA_PLATFORM_PRICES", help="Platform price table (YAML) for legacy services.",
)


@click.group(name="gas", invoke_without_command=True)
@click.option("--org", help="Recent events of this org only.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@json_option
@click.pass_context
def group(ctx: click.Context, org: str | None, limit: int, as_json: bool) -> None:
    """Gas pricing and usage. Without a subcommand: recent gas events."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(gas_events.show_recent, org=org, limit=limit, as_json=as_json)


def _platform_table(path: Path | None) -> dict[str, Any]:
    try:
        return load_platform_table(path)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError, KeyError, TypeError) as exc:
        why = f"missing {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0]
        fail(f"--platform-prices {path}: not a platform price table ({why}); it maps each service to a list of "
             "routes, each with path and gas", EXIT_BAD_INPUT)


def _report(component: Component, platform: dict[str, Any]) -> dict[str, Any]:
    return pricing_report(component.name, component.tier, component.spec.replicas,
                          component.priced_routes(), platform.get(component.name, ()))


def _cluster_components(service: str | None) -> list[Component]:
    from tawa.kube import NoCluster, api_client
    from tawa.kube.components import list_components

    try:
        items = list_components(api_client())
    except NoCluster as exc:
        fail(f"{exc}; or price a file with --file", EXIT_BAD_INPUT)
    components = []
    for item in items:
        meta = item["metadata"]
        if service and meta["name"] != service:
            continue
        try:
            components.append(check_component(meta["name"], meta.get("annotations") or {},
                                              item.get("spec") or {}, meta.get("namespace")))
        except CatalogError as exc:
            click.echo(f"warning: skipping {meta['namespace']}/{meta['name']}: {exc}", err=True)
    if service and not components:
        fail(f"no Component named {service!r} in the cluster; list them with `kubectl get comp -A`")
    return components


def _print_human(report: dict[str, Any]) -> None:
    hosting = report["hosting"]
    click.echo(f"{report['service']}: tier {hosting['tier']} × {hosting['replicas']} replica(s), "
               f"{tokens(hosting['tokensPerHour'])} tokens/hour, {tokens(hosting['tokensPerMonth'])}/month, "
               f"reserve {tokens(hosting['reserve'])}")
    rows = [(r["path"], ",".join(r["methods"]) or "*", r["auth"], r["gas"], r["source"]) for r in report["routes"]]
    if rows:
        print_table(("PATH", "METHODS", "AUTH", "GAS", "SOURCE"), rows)
    else:
        click.echo("  no routes declared: every call through Janus costs the default 1 token")


@group.command()
@click.option("--file", "file", type=click.Path(path_type=Path),
              help="A catalog-info.yaml (default: ./catalog-info.yaml).")
@click.option("--service", help="A service deployed in the cluster.")
@click.option("--all", "all_services", is_flag=True, help="Every Component in the cluster.")
@platform_option
@json_option
def pricing(file: Path | None, service: str | None, all_services: bool,
            platform_prices: Path | None, as_json: bool) -> None:
    """Hosting and per-route API-gas prices for a service."""
    if sum(bool(x) for x in (file, service, all_services)) > 1:
        fail("choose one of --file, --service and --all", EXIT_BAD_INPUT)
    platform = _platform_table(platform_prices)
    if service or all_services:
        reports = [_report(c, platform) for c in _cluster_components(service)]
    else:
        reports = [_report(load_or_exit(file or DEFAULT_FILE, "--file ")[1], platform)]
    if as_json:
        print_json(reports if all_services else reports[0])
        return
    for report in reports:
        _print_human(report)


group.add_command(gas_events.events)
