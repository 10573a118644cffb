"""The platform price table: fallback prices for legacy services whose routes
carry no `gas:` yet. A YAML mapping of service → routes, shipped with a
default and replaceable by a file (a ConfigMap in a cluster)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from tawa.gas.pricing import PricedRoute


def parse_platform_table(text: str) -> dict[str, tuple[PricedRoute, ...]]:
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ValueError("platform price table must map service names to lists of routes")
    table = {}
    for service, routes in data.items():
        table[str(service)] = tuple(
            PricedRoute(path=r["path"], methods=tuple(m.upper() for m in r.get("methods", [])),
                        auth=r.get("auth", "service"), gas=int(r["gas"]))
            for r in routes or []
        )
    return table


def load_platform_table(path: str | Path | None = None) -> dict[str, tuple[PricedRoute, ...]]:
    if path is None:
        return parse_platform_table(resources.files("tawa.gas").joinpath("platform-prices.yaml").read_text())
    return parse_platform_table(Path(path).read_text())
