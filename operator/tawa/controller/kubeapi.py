"""Server-side apply and reads through the `kubernetes` client (sync: kopf runs
sync handlers in its thread pool)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tawa.catalog.render import API_GROUP, PLURAL
from tawa.controller.children import MANAGER

APPLY = {"field_manager": MANAGER, "force": True, "_content_type": "application/apply-patch+yaml"}


@cache
def api() -> client.ApiClient:
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        config.load_kube_config(client_configuration=configuration)
    configuration.connection_pool_maxsize = 32  # one per kopf worker thread, and then some
    return client.ApiClient(configuration)


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


def read_component(name: str, namespace: str) -> dict[str, Any] | None:
    try:
        return client.CustomObjectsApi(api()).get_namespaced_custom_object(API_GROUP, "v1", namespace, PLURAL, name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def patch_component_status(name: str, namespace: str, fields: dict[str, Any]) -> None:
    """Merge scalar status fields; conditions are left as they are."""
    client.CustomObjectsApi(api()).patch_namespaced_custom_object_status(
        API_GROUP, "v1", namespace, PLURAL, name, {"status": fields})


def update_component_status(name: str, namespace: str, change: Callable[[dict[str, Any]], dict[str, Any]],
                            attempts: int = 8, current: dict[str, Any] | None = None) -> None:
    """Read, compute the new status from the object, write it back with the read's
    resourceVersion; retry on conflict.

    Three writers share one status (reconcile, the Deployment watcher, the hosting
    timer): optimistic locking keeps each from undoing another's conditions.
    """
    custom = client.CustomObjectsApi(api())
    for _ in range(attempts):
        obj, current = current or read_component(name, namespace), None  # a given object saves the first GET
        if obj is None:
            return
        body = {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]},
                "status": change(obj)}
        try:
            custom.patch_namespaced_custom_object_status(API_GROUP, "v1", namespace, PLURAL, name, body)
            return
        except ApiException as exc:
            if exc.status != 409:
                raise
    raise RuntimeError(f"status of {namespace}/{name} kept changing under us; giving up after {attempts} tries")
