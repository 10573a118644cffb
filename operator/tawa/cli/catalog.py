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
from tawa.settings import SharedSettings

# Existence is checked when the file is read, so a missing file is one line naming the fix
# (click's own check prints its usage block), the same for the argument and `--file`.
DEFAULT_FILE = Path("catalog-info.yaml")
file_argument = click.argument("file", type=click.Path(path_type=Path), default=DEFAULT_FILE)
env_option = click.option(
    "--env", "env_name", default=lambda: SharedSettings().env,
    help="Platform environment: sets the {service}-{env} namespace and the Janus URL "
         "[TAWA_ENV, the config file's env, default prod].",
)


def _command_line() -> str:
    """`tawa gas pricing`, however the program was started (`python -m …` included)."""
    ctx, names = click.get_current_context(), []
    while ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(["tawa", *reversed(names)])


def read_or_exit(file: Path, flag: str = "") -> str:
    """The text of a catalog-info.yaml, or one line naming the file and the fix (exit 2).

    `flag` is how the command takes the file (`--file ` for `tawa gas pricing`)."""
    name_it = f"`{_command_line()} {flag}PATH`"
    try:
        return file.read_text()
    except FileNotFoundError:
        if file == DEFAULT_FILE:
            fail(f"{file}: does not exist in {Path.cwd()}; run this in the service's folder or name its "
                 f"catalog-info.yaml: {name_it}", EXIT_BAD_INPUT)
        fail(f"{file}: does not exist; check the path: {name_it}", EXIT_BAD_INPUT)
    except IsADirectoryError:
        fail(f"{file}: is a folder; name the catalog-info.yaml in it: {name_it}", EXIT_BAD_INPUT)
    except OSError as exc:
        fail(f"{file}: cannot be read ({exc.strerror}); name a readable catalog-info.yaml: {name_it}",
             EXIT_BAD_INPUT)
    except UnicodeDecodeError:
        fail(f"{file}: is not UTF-8 text; a catalog-info.yaml is a YAML document", EXIT_BAD_INPUT)


def load_or_exit(file: Path, flag: str = "") -> tuple[CatalogInfo, Component]:
    text = read_or_exit(file, flag)
    try:
        return load_catalog(text)
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
        _, component = load_catalog(read_or_exit(file))
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
