"""Parse and check catalog-info.yaml files and Component resources (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from tawa.catalog.env import env_var_name
from tawa.catalog.models import SERVICE_NAME, CatalogInfo, ComponentSpec, Dependency
from tawa.catalog.problems import PATTERN_HELP, CatalogError, Problem, problems_from
from tawa.gas.pricing import PricedRoute
from tawa.gas.tiers import DEFAULT_TIER, TIERS, PodTier, get_tier
from tawa.resource import TIER_ANNOTATION


@dataclass(frozen=True)
class Component:
    """A Component whose spec passed every check."""

    name: str
    spec: ComponentSpec
    annotations: Mapping[str, str] = field(default_factory=dict)
    namespace: str | None = None

    @property
    def tier(self) -> PodTier:
        return get_tier(self.annotations.get(TIER_ANNOTATION, DEFAULT_TIER))

    def priced_routes(self) -> list[PricedRoute]:
        return [PricedRoute(r.path, tuple(r.methods), r.auth, r.gas) for r in self.spec.routes]


def tier_problems(annotations: Mapping[str, str]) -> list[Problem]:
    name = annotations.get(TIER_ANNOTATION, DEFAULT_TIER)
    if name in TIERS:
        return []
    field_name = f'metadata.annotations["{TIER_ANNOTATION}"]'
    return [Problem(field_name, f"unknown pod tier {name!r}: use one of {', '.join(TIERS)}")]


DependencyEntry = tuple[str, int, Dependency]


def _described(dep: Dependency) -> str:
    port = f"port {dep.port}" if dep.port is not None else "no port (the target's)"
    return f"transport {dep.transport!r}, {port}"


def dependency_problems(entries: Iterable[DependencyEntry]) -> list[Problem]:
    """The same service twice with different transports or ports, or two services
    whose variables would collide (``a-b`` and ``a_b`` both give ``A_B_URL``)."""
    problems: list[Problem] = []
    first_seen: dict[str, tuple[str, Dependency]] = {}
    for list_name, index, dep in entries:
        where = f"spec.{list_name}[{index}]"
        var = env_var_name(dep.service)
        if var not in first_seen:
            first_seen[var] = (where, dep)
            continue
        other_where, other = first_seen[var]
        if other.service != dep.service:
            problems.append(Problem(where, f"service {dep.service!r} and {other_where} "
                                    f"({other.service!r}) would both set {var}; rename one"))
        elif (other.transport, other.port) != (dep.transport, dep.port):
            problems.append(Problem(where, f"{dep.service!r} is also listed at {other_where} with "
                                    f"{_described(other)}; this entry says {_described(dep)}: keep one"))
    return problems


def _raw_dependencies(spec: Any) -> list[DependencyEntry]:
    """The dependency entries that are valid on their own, from a spec that is not: so a
    duplicate is reported beside the spec's other problems (the invalid entries are
    reported by the model)."""
    entries: list[DependencyEntry] = []
    for list_name in ("internalDependencies", "dependencies"):
        items = spec.get(list_name) if isinstance(spec, Mapping) else None
        for index, item in enumerate(items if isinstance(items, list) else []):
            try:
                entries.append((list_name, index, Dependency.model_validate(item)))
            except ValidationError:
                continue
    return entries


def name_problems(name: str) -> list[Problem]:
    """The API server takes any DNS subdomain for a Component; its Service cannot."""
    if re.fullmatch(SERVICE_NAME, name):
        return []
    return [Problem("metadata.name", f"{PATTERN_HELP[SERVICE_NAME]} (got {name!r})")]


def check_component(
    name: str, annotations: Mapping[str, str], spec: Mapping[str, Any], namespace: str | None = None
) -> Component:
    """Validate a Component resource's parts; raise CatalogError listing every problem."""
    problems = name_problems(name) + tier_problems(annotations)
    try:
        model = ComponentSpec.model_validate(dict(spec))
    except ValidationError as exc:
        raise CatalogError(problems + problems_from(exc, ("spec",)) + dependency_problems(_raw_dependencies(spec))) \
            from None
    problems += dependency_problems(model.all_dependencies())
    if problems:
        raise CatalogError(problems)
    return Component(name=name, spec=model, annotations=dict(annotations), namespace=namespace)


MISSING_IMAGE = Problem("spec.image", "is required to run pods: set it with `tawa deploy --image IMG`")


def check_deployable(
    name: str, annotations: Mapping[str, str], spec: Mapping[str, Any], namespace: str | None = None
) -> Component:
    """check_component, and what running pods needs besides: an image. The operator
    checks every Component with this, and `tawa deploy` the one it is about to apply,
    so that nothing it would refuse is ever applied."""
    image = spec.get("image")
    missing = image is None or (isinstance(image, str) and not image.strip())  # other types: the model says
    image_problems = [MISSING_IMAGE] if missing else []
    try:
        component = check_component(name, annotations, spec, namespace)
    except CatalogError as exc:
        raise CatalogError(exc.problems + image_problems) from None
    if image_problems:
        raise CatalogError(image_problems)
    return component


def _raw_tier_problems(data: Mapping[str, Any]) -> list[Problem]:
    annotations = (data.get("metadata") or {}).get("annotations") if isinstance(data.get("metadata"), dict) else None
    return tier_problems(annotations) if isinstance(annotations, dict) else []


def load_catalog(text: str) -> tuple[CatalogInfo, Component]:
    """Parse a catalog-info.yaml document; raise CatalogError listing every problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogError([Problem("(yaml)", f"not valid YAML: {exc}")]) from None
    if not isinstance(data, dict):
        raise CatalogError([Problem("(document)", "must be a YAML mapping with apiVersion, kind, metadata and spec")])
    try:
        catalog = CatalogInfo.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(_raw_tier_problems(data) + problems_from(exc)
                           + dependency_problems(_raw_dependencies(data.get("spec")))) from None
    meta = catalog.metadata
    component = check_component(meta.name, meta.annotations,
                                catalog.spec.model_dump(by_alias=True, exclude_none=True), meta.namespace)
    return catalog, component
