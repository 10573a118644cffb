"""Server-side apply and reads through the `kubernetes` client (sync: kopf runs
sync handlers in its thread pool)."""

from __future__ import annotations

from functools import cache
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tawa.catalog.render import API_GROUP, KIND, PLURAL
from tawa.controller.children import MANAGER, SUSPENDED

WORKER_THREADS = 64  # kopf's threads for sync handlers: they mostly wait on the API server and the wallet
# The answers to our writes are not used: skipping their conversion into the
# client's models saves most of a write's CPU and the burst's peak memory.
UNREAD: dict[str, Any] = {"_preload_content": False}
APPLY: dict[str, Any] = {"field_manager": MANAGER, "force": True, "_content_type": "application/apply-patch+yaml", **UNREAD}


@cache
def api() -> client.ApiClient:
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        config.load_kube_config(client_configuration=configuration)
    configuration.connection_pool_maxsize = WORKER_THREADS  # one per kopf worker thread: none discarded
    return client.ApiClient(configuration)


def apply(obj: dict[str, Any]) -> None:
    meta = obj["metadata"]
    name, ns = meta["name"], meta["namespace"]
    kind = obj["kind"]
    answer: Any
    if kind == "Deployment":
        answer = client.AppsV1Api(api()).patch_namespaced_deployment(name, ns, obj, **APPLY)
    elif kind == "Service":
        answer = client.CoreV1Api(api()).patch_namespaced_service(name, ns, obj, **APPLY)
    elif kind == "ServiceAccount":
        answer = client.CoreV1Api(api()).patch_namespaced_service_account(name, ns, obj, **APPLY)
    else:
        raise ValueError(f"unsupported kind {kind}")
    _drain(answer)


def _drain(answer: Any) -> None:
    """Read an unused answer to the end, so that its connection goes back to the pool
    (errors were raised as ApiException already)."""
    answer.read()
    answer.release_conn()


def read_deployment(name: str, namespace: str) -> dict[str, Any] | None:
    try:
        obj = client.AppsV1Api(api()).read_namespaced_deployment(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return dict(api().sanitize_for_serialization(obj))


def scale_deployment(name: str, namespace: str, replicas: int, suspended_since: str | None, manager: str) -> bool:
    """Set spec.replicas and the suspended mark, nothing else, in one merge patch
    (an apply by a second manager would have to repeat the whole Deployment).
    False when the Deployment is gone."""
    patch = {"metadata": {"annotations": {SUSPENDED: suspended_since}}, "spec": {"replicas": replicas}}
    try:
        _drain(client.AppsV1Api(api()).patch_namespaced_deployment(
            name, namespace, patch, field_manager=manager, _content_type="application/merge-patch+json", **UNREAD))
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
    body = {"apiVersion": f"{API_GROUP}/v1", "kind": KIND, "metadata": {"name": name, "namespace": namespace},
            "status": status}
    try:
        _drain(client.CustomObjectsApi(api()).patch_namespaced_custom_object_status(
            API_GROUP, "v1", namespace, PLURAL, name, body, field_manager=manager, force=True,
            _content_type="application/apply-patch+yaml", **UNREAD))
    except ApiException as exc:
        if exc.status != 404:  # deleted meanwhile: nothing to report on
            raise
