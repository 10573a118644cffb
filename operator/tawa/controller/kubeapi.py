"""Server-side apply and reads through the `kubernetes` client (sync: kopf runs
sync handlers in its thread pool)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tawa.resource import API_GROUP, KIND, MANAGER, PLURAL, SUSPENDED

WORKER_THREADS = 16  # kopf's threads for sync handlers; more only added memory and GIL contention (measured)
APPLY_PATCH, MERGE_PATCH = "application/apply-patch+yaml", "application/merge-patch+json"
PATHS = {
    "Deployment": "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
    "Service": "/api/v1/namespaces/{namespace}/services/{name}",
    "ServiceAccount": "/api/v1/namespaces/{namespace}/serviceaccounts/{name}",
}
COMPONENT = f"/apis/{API_GROUP}/v1/namespaces/{{namespace}}/{PLURAL}/{{name}}"
COMPONENT_STATUS = f"{COMPONENT}/status"


@cache
def api() -> client.ApiClient:
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        config.load_kube_config(client_configuration=configuration)
    configuration.connection_pool_maxsize = WORKER_THREADS  # one per kopf worker thread: none discarded
    return client.ApiClient(configuration)


def request(method: str, path: str, body: dict[str, Any] | None = None, content_type: str | None = None,
            **query: Any) -> bytes:
    """One call through the client's connection pool and credentials; the answer's body.

    The typed API classes (AppsV1Api, CoreV1Api, ...) cost ~27 MB of imports and turn
    every answer into models we never read; the four calls here do not need them."""
    headers = {"Accept": "application/json", **({"Content-Type": content_type} if content_type else {})}
    params = [(k, v) for k, v in query.items() if v is not None]
    answer = api().call_api(*api().param_serialize(method, path, query_params=params, header_params=headers,
                                                    body=body, auth_settings=["BearerToken"]))
    data: bytes = answer.read()
    if not 200 <= answer.status <= 299:
        raise ApiException.from_response(http_resp=answer, body=data.decode(errors="replace"), data=None)
    return data  # decoded only where it is read: most answers are not


def apply(obj: dict[str, Any]) -> None:
    """Server-side apply of a child object, as the operator's field manager."""
    meta = obj["metadata"]
    path = PATHS.get(obj["kind"])
    if path is None:
        raise ValueError(f"unsupported kind {obj['kind']}")
    request("PATCH", path.format(namespace=meta["namespace"], name=meta["name"]), obj, APPLY_PATCH,
            fieldManager=MANAGER, force="true")


def _read(path: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = json.loads(request("GET", path))
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return found


def read_deployment(name: str, namespace: str) -> dict[str, Any] | None:
    return _read(PATHS["Deployment"].format(namespace=namespace, name=name))


def read_component(name: str, namespace: str) -> dict[str, Any] | None:
    return _read(COMPONENT.format(namespace=namespace, name=name))


def scale_deployment(name: str, namespace: str, replicas: int, suspended_since: str | None, manager: str) -> bool:
    """Set spec.replicas and the suspended mark, nothing else, in one merge patch
    (an apply by a second manager would have to repeat the whole Deployment).
    False when the Deployment is gone."""
    patch = {"metadata": {"annotations": {SUSPENDED: suspended_since}}, "spec": {"replicas": replicas}}
    try:
        request("PATCH", PATHS["Deployment"].format(namespace=namespace, name=name), patch, MERGE_PATCH,
                fieldManager=manager)
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
        request("PATCH", COMPONENT_STATUS.format(namespace=namespace, name=name), body, APPLY_PATCH,
                fieldManager=manager, force="true")
    except ApiException as exc:
        if exc.status != 404:  # deleted meanwhile: nothing to report on
            raise
