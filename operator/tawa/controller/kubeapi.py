"""The operator's writes and reads, through `tawa.kube` (sync: kopf runs sync
handlers in its thread pool)."""

from __future__ import annotations

from functools import cache
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tawa import kube
from tawa.kube import APPLY_PATCH, MERGE_PATCH
from tawa.kube.components import COMPONENT, get_component
from tawa.resource import API_VERSION, KIND, MANAGER, SUSPENDED

WORKER_THREADS = 16  # kopf's threads for sync handlers; more only added memory and GIL contention (measured)
PATHS = {
    "Deployment": "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
    "Service": "/api/v1/namespaces/{namespace}/services/{name}",
    "ServiceAccount": "/api/v1/namespaces/{namespace}/serviceaccounts/{name}",
}
COMPONENT_STATUS = f"{COMPONENT}/status"


@cache
def api() -> client.ApiClient:
    return kube.api_client(pool_size=WORKER_THREADS)  # one connection per kopf worker thread: none discarded


def apply(obj: dict[str, Any]) -> None:
    """Server-side apply of a child object, as the operator's field manager."""
    meta = obj["metadata"]
    path = PATHS.get(obj["kind"])
    if path is None:
        raise ValueError(f"unsupported kind {obj['kind']}")
    kube.request(api(), "PATCH", path.format(namespace=meta["namespace"], name=meta["name"]), obj, APPLY_PATCH,
                 fieldManager=MANAGER, force="true")


def read_deployment(name: str, namespace: str) -> dict[str, Any] | None:
    return kube.read(api(), PATHS["Deployment"].format(namespace=namespace, name=name))


def read_component(name: str, namespace: str) -> dict[str, Any] | None:
    return get_component(api(), namespace, name)


def scale_deployment(name: str, namespace: str, replicas: int, suspended_since: str | None, manager: str) -> bool:
    """Set spec.replicas and the suspended mark, nothing else, in one merge patch
    (an apply by a second manager would have to repeat the whole Deployment).
    False when the Deployment is gone."""
    patch = {"metadata": {"annotations": {SUSPENDED: suspended_since}}, "spec": {"replicas": replicas}}
    try:
        kube.request(api(), "PATCH", PATHS["Deployment"].format(namespace=namespace, name=name), patch,
                     MERGE_PATCH, fieldManager=manager)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def apply_component_status(name: str, namespace: str, manager: str, status: dict[str, Any]) -> None:
    """Server-side apply of the status fields one writer owns.

    Each writer (reconcile, readiness, billing) applies as its own field manager
    and always sends every field it owns; `conditions` is a map-list keyed by
    type, so a writer's apply never touches another writer's conditions — no
    read, no conflict, no retry.
    """
    body = {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name, "namespace": namespace},
            "status": status}
    try:
        kube.request(api(), "PATCH", COMPONENT_STATUS.format(namespace=namespace, name=name), body,
                     APPLY_PATCH, fieldManager=manager, force="true")
    except ApiException as exc:
        if exc.status != 404:  # deleted meanwhile: nothing to report on
            raise
