"""Env injection for declared dependencies (pure): DOCMAN_URL and friends.

| transport | value of {NAME}_URL                                                  |
| direct    | http://{service}.{ns}.svc.cluster.local:{port}                       |
| janus     | http://janus.janus-{env}.svc.cluster.local:3000/proxy/{service}     |
| gateway   | (no variable)                                                        |
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tawa.catalog.models import ComponentSpec, EnvVar

DEFAULT_PORT = 3000
JANUS_PORT = 3000
DEFAULT_PLATFORM_SERVICES = ("septor", "relay", "iec-wallet")


@dataclass(frozen=True)
class TargetService:
    """Where a dependency's Component lives in the cluster."""

    namespace: str
    port: int


@dataclass(frozen=True)
class Notice:
    """Something worth a Warning event, though the spec is valid."""

    reason: str
    message: str


@dataclass(frozen=True)
class EnvPlan:
    variables: dict[str, str]
    notices: tuple[Notice, ...] = ()


ServiceLookup = Callable[[str], "TargetService | None"]


def pick_target(service: str, env: str, caller_namespace: str,
                candidates: Sequence[TargetService]) -> TargetService | None:
    """The Component a direct URL should follow when several share the name: the one
    in `{service}-{env}`, else the one beside the caller; none when still ambiguous."""
    if len(candidates) == 1:
        return candidates[0]
    for namespace in (default_namespace(service, env), caller_namespace):
        chosen = [c for c in candidates if c.namespace == namespace]
        if len(chosen) == 1:
            return chosen[0]
    return None


def env_var_name(service: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", service).upper() + "_URL"


def default_namespace(service: str, env: str) -> str:
    return f"{service}-{env}"


def janus_url(service: str, env: str) -> str:
    return f"http://janus.janus-{env}.svc.cluster.local:{JANUS_PORT}/proxy/{service}"


def direct_url(service: str, env: str, entry_port: int | None, target: TargetService | None) -> str:
    namespace = target.namespace if target else default_namespace(service, env)
    port = target.port if target else (entry_port or DEFAULT_PORT)
    return f"http://{service}.{namespace}.svc.cluster.local:{port}"


def _no_lookup(_: str) -> TargetService | None:
    return None


def plan_env(
    spec: ComponentSpec,
    env: str,
    lookup: ServiceLookup = _no_lookup,
    platform_services: Iterable[str] = DEFAULT_PLATFORM_SERVICES,
) -> EnvPlan:
    """The URL variables a Component's dependencies give it, and what to warn about.

    Assumes a validated spec: identical duplicates are merged here, conflicting
    ones were refused by validation.
    """
    platform = set(platform_services)
    variables: dict[str, str] = {}
    notices: list[Notice] = []
    for list_name, index, dep in spec.all_dependencies():
        name = env_var_name(dep.service)
        if dep.transport == "gateway" or name in variables:
            continue
        where = f"spec.{list_name}[{index}]"
        if dep.transport == "janus":
            variables[name] = janus_url(dep.service, env)
            if dep.port is not None:
                notices.append(Notice("PortIgnored", f"{where}: port {dep.port} is ignored with "
                                      f"transport janus; Janus always listens on {JANUS_PORT}"))
            if dep.service in platform:
                notices.append(Notice("PlatformServiceMetered", f"{where}: {dep.service} is free "
                                      "platform infrastructure; use transport direct instead of janus"))
        else:
            variables[name] = direct_url(dep.service, env, dep.port, lookup(dep.service))
    return EnvPlan(dict(sorted(variables.items())), tuple(notices))


def container_env(injected: dict[str, str], explicit: Sequence[EnvVar]) -> list[dict[str, str]]:
    """Injected variables sorted by name, then explicit ones; explicit values win."""
    merged = dict(injected)
    merged.update({e.name: e.value for e in explicit})
    return [{"name": k, "value": v} for k, v in merged.items()]
