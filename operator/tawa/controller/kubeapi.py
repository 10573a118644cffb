"""Server-side apply and reads through the `kubernetes` client (sync: kopf runs
sync handlers in its thread pool)."""

from __future__ import annotations

from functools import cache
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tawa.catalog.render import API_GROUP, PLURAL
from tawa.controller.children import MANAGER

APPLY = {"field_manager": MANAGER, "force": True, "_content_type": "application/apply-patch+yaml"}


@cache
def api() -> client.ApiClient:
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.ApiClient()


def apply(obj: dict[str, Any]) -> None:
    meta = obj["metadata"]
    name, ns = meta["name"], meta["namespace"]
    kind = obj["kind"]
    if kind == "Deployment":
        client.AppsV1Api(api()).patch_namespaced_deployment(name, ns, obj, **APPLY)
    elif kind == "Service":
        client.CoreV1Api(api()).patch_namespaced_service(name, ns, obj, **APPLY)
    elif kind == "ServiceAccount":
        client.CoreV1Api(api()).patch_namespaced_service_account(name, ns, obj, **APPLY)
    else:
        raise ValueError(f"unsupported kind {kind}")


def read_deployment(name: str, namespace: str) -> dict[str, Any] | None:
    try:
        obj = client.AppsV1Api(api()).read_namespaced_deployment(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return api().sanitize_for_serialization(obj)


def scale_deployment(name: str, namespace: str, replicas: int) -> None:
    client.AppsV1Api(api()).patch_namespaced_deployment_scale(name, namespace, {"spec": {"replicas": replicas}})


def patch_component_status(name: str, namespace: str, status: dict[str, Any]) -> None:
    client.CustomObjectsApi(api()).patch_namespaced_custom_object_status(
        API_GROUP, "v1", namespace, PLURAL, name, {"status": status})
