"""Which services exist and where they live: the cluster's Components, or a file.

Lookups, found and not found alike, are cached for `ttl` seconds (60 by
default): a new service goes live within a minute, and a flood of calls to an
unknown name costs one lookup a minute.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from tawa.cache import TtlCache
from tawa.catalog.problems import CatalogError
from tawa.catalog.validate import check_component
from tawa.janus.model import Service
from tawa.resource import UPSTREAM_URL_ANNOTATION

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

log = logging.getLogger("tawa.janus.registry")


def service_from_resource(doc: Mapping[str, Any]) -> Service:
    """A Component resource (or catalog-info document) → Service; raises CatalogError/ValueError."""
    meta = doc.get("metadata") or {}
    name, namespace = meta.get("name"), meta.get("namespace")
    annotations = meta.get("annotations") or {}
    if not isinstance(name, str) or not name:
        raise ValueError("metadata.name is missing")
    component = check_component(name, annotations, doc.get("spec") or {}, namespace)
    upstream = annotations.get(UPSTREAM_URL_ANNOTATION)
    if not upstream:
        if not namespace:
            raise ValueError(f"{name}: set metadata.namespace or the {UPSTREAM_URL_ANNOTATION} annotation")
        upstream = f"http://{name}.{namespace}.svc.cluster.local:{component.spec.port}"
    return Service(name=name, namespace=namespace, owner=component.spec.owner,
                   upstream=upstream.rstrip("/"), routes=tuple(component.priced_routes()))


class Source(Protocol):
    async def by_name(self, name: str) -> Service | None: ...

    async def by_account(self, namespace: str, name: str) -> Service | None: ...


class InvalidRegistry(Exception):
    """The registry file Janus was started with cannot be read as YAML."""


class FileSource:
    """A YAML file of Component documents; re-read when it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[float, int] | None = None
        self._services: list[Service] = []

    @classmethod
    def opened(cls, path: Path) -> FileSource:
        """A source whose file reads as YAML now: a broken file stops the start, while a
        later broken edit keeps the services Janus already serves."""
        try:
            list(yaml.safe_load_all(path.read_text()))
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidRegistry(f"--registry {path} is not valid YAML: {' '.join(str(exc).split())}") from None
        return cls(path)

    def _load(self) -> list[Service]:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            log.error("registry file %s is missing: no services", self.path)
            return []
        stamp = (stat.st_mtime, stat.st_size)
        if stamp == self._stamp:
            return self._services
        services: list[Service] = []
        try:
            docs = list(yaml.safe_load_all(self.path.read_text()))
        except yaml.YAMLError as exc:
            log.error("registry file %s is not valid YAML (%s); keeping the previous services", self.path, exc)
            return self._services
        for doc in docs:
            if not isinstance(doc, dict):
                continue
            try:
                services.append(service_from_resource(doc))
            except (CatalogError, ValueError) as exc:
                log.error("registry file %s: skipping a document: %s", self.path, exc)
        self._stamp, self._services = stamp, services
        return services

    async def by_name(self, name: str) -> Service | None:
        return next((s for s in self._load() if s.name == name), None)

    async def by_account(self, namespace: str, name: str) -> Service | None:
        return next((s for s in self._load() if s.name == name and s.namespace == namespace), None)


class ClusterSource:
    """Components in the cluster, looked up by name (blocking client calls run in a thread)."""

    def __init__(self, api_client: ApiClient, env: str | None = None) -> None:
        self._api = api_client
        self._env = env

    def _pick(self, name: str, items: list[dict[str, Any]]) -> dict[str, Any] | None:
        """One Component per name is the rule; with several, prefer `{name}-{env}`."""
        if not items:
            return None
        items.sort(key=lambda i: i["metadata"].get("namespace", ""))
        preferred = f"{name}-{self._env}" if self._env else None
        chosen = next((i for i in items if i["metadata"].get("namespace") == preferred), items[0])
        if len(items) > 1:
            log.warning("service %s exists in namespaces %s; using %s", name,
                        [i["metadata"].get("namespace") for i in items], chosen["metadata"].get("namespace"))
        return chosen

    @staticmethod
    def _service(doc: dict[str, Any] | None) -> Service | None:
        if doc is None:
            return None
        try:
            return service_from_resource(doc)
        except (CatalogError, ValueError) as exc:
            meta = doc.get("metadata", {})
            log.error("Component %s/%s is invalid, not routable: %s", meta.get("namespace"), meta.get("name"), exc)
            return None

    async def by_name(self, name: str) -> Service | None:
        from tawa.kube.components import list_components

        items = await asyncio.to_thread(list_components, self._api, name=name)
        return self._service(self._pick(name, items))

    async def by_account(self, namespace: str, name: str) -> Service | None:
        from tawa.kube.components import get_component

        return self._service(await asyncio.to_thread(get_component, self._api, namespace, name))


class Registry:
    def __init__(self, source: Source, ttl: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 size: int = 10_000) -> None:
        self.source = source
        self._names = TtlCache(ttl, clock, size)
        self._accounts = TtlCache(ttl, clock, size)

    async def lookup(self, name: str) -> Service | None:
        hit, value = self._names.peek(name)  # the hot path: no coroutine switch
        if hit:
            return value  # type: ignore[no-any-return]
        try:
            return await self._names.get(name, lambda: self.source.by_name(name))  # type: ignore[no-any-return]
        except Exception as exc:  # noqa: BLE001 — API errors, timeouts, refused connections alike
            # The API server being briefly away should not take every service down.
            log.error("registry lookup of %s failed (%s); using the last known answer", name, exc)
            return self._names.stale(name)  # type: ignore[no-any-return]

    async def component(self, namespace: str, name: str) -> Service | None:
        key = (namespace, name)
        return await self._accounts.get(key, lambda: self.source.by_account(namespace, name))  # type: ignore[no-any-return]
