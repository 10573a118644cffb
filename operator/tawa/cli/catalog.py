"""`tawa catalog`: offline checks on a catalog-info.yaml — no cluster needed."""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from tawa.catalog.env import DEFAULT_PLATFORM_SERVICES, plan_env
from tawa.catalog.models import CatalogInfo
from tawa.catalog.problems import CatalogError
from tawa.catalog.render import render_component
from tawa.catalog.validate import Component, load_catalog
from tawa.cli.output import EXIT_BAD_INPUT, fail, json_option, print_json

file_argument = click.argument(
    "file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default="catalog-info.yaml"
)
env_option = click.option(
    "--env", "env_name", envvar="TAWA_ENV", default="prod", show_default=True,
    help="Platform environment: sets the {service}-{env} namespace and the Janus URL.",
)


def load_or_exit(file: Path) -> tuple[CatalogInfo, Component]:
    try:
        return load_catalog(file.read_text())
    except CatalogError as exc:
        for problem in exc.problems:
            click.echo(f"{file}: {problem}", err=True)
        count = len(exc.problems)
        fail(f"{file}: {count} problem{'s' if count != 1 else ''}", EXIT_BAD_INPUT)


@click.group(name="catalog")
def group() -> None:
    """Check a catalog-info.yaml and see what it deploys as."""


@group.command()
@file_argument
@json_option
def validate(file: Path, as_json: bool) -> None:
    """List every problem in FILE, one line each, naming the field."""
    try:
        _, component = load_catalog(file.read_text())
    except CatalogError as exc:
        if as_json:
            print_json({"valid": False, "problems": [{"field": p.field, "message": p.message} for p in exc.problems]})
            raise SystemExit(EXIT_BAD_INPUT) from None
        load_or_exit(file)
        return
    if as_json:
        print_json({"valid": True, "problems": []})
    else:
        click.echo(f"{file}: valid ({component.name}, owner {component.spec.owner}, tier {component.tier.name})")


@group.command()
@file_argument
@env_option
@json_option
def env(file: Path, env_name: str, as_json: bool) -> None:
    """The *_URL variables the service gets for its dependencies."""
    _, component = load_or_exit(file)
    plan = plan_env(component.spec, env_name, platform_services=DEFAULT_PLATFORM_SERVICES)
    for notice in plan.notices:
        click.echo(f"warning: {notice.message}", err=True)
    if as_json:
        print_json(plan.variables)
    else:
        for name, value in plan.variables.items():
            click.echo(f"{name}={value}")


@group.command()
@file_argument
@click.option("--image", required=True, help="Container image to run.")
@env_option
@click.option("--replicas", type=click.IntRange(0, 1000), default=None, help="Pod replicas.")
def render(file: Path, image: str, env_name: str, replicas: int | None) -> None:
    """Print the Component resource for FILE as YAML."""
    catalog, _ = load_or_exit(file)
    click.echo(yaml.safe_dump(render_component(catalog, env_name, image, replicas), sort_keys=False), nl=False)
