"""Components and their namespaces: applied, read and listed through `tawa.kube`."""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tawa.kube import APPLY_PATCH, call, read
from tawa.resource import API_VERSION, PLURAL

COMPONENTS = f"/apis/{API_VERSION}/{PLURAL}"
NAMESPACED = f"/apis/{API_VERSION}/namespaces/{{namespace}}/{PLURAL}"
COMPONENT = f"{NAMESPACED}/{{name}}"


def ensure_namespace(api: client.ApiClient, name: str) -> None:
    try:
        call(api, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    except ApiException as exc:
        if exc.status not in (403, 409):  # exists, or we may not create namespaces: the apply will tell
            raise


def apply_component(api: client.ApiClient, manifest: dict[str, Any], manager: str) -> dict[str, Any]:
    """Server-side apply of a whole Component as `manager`, in its namespace (created if need be);
    the Component as applied."""
    meta = manifest["metadata"]
    ensure_namespace(api, meta["namespace"])
    return call(api, "PATCH", COMPONENT.format(namespace=meta["namespace"], name=meta["name"]), manifest,
                APPLY_PATCH, fieldManager=manager, force="true")


def get_component(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any] | None:
    return read(api, COMPONENT.format(namespace=namespace, name=name))


def list_components(api: client.ApiClient, namespace: str | None = None,
                    name: str | None = None) -> list[dict[str, Any]]:
    """The Components of `namespace` (all namespaces when None), only those called `name` if given."""
    path = NAMESPACED.format(namespace=namespace) if namespace else COMPONENTS
    found = call(api, "GET", path, fieldSelector=f"metadata.name={name}" if name else None)
    return list(found.get("items", []))


def org_components(api: client.ApiClient, org: str) -> list[dict[str, Any]]:
    """The Components of every namespace whose spec.owner is `org`."""
    return [c for c in list_components(api) if (c.get("spec") or {}).get("owner") == org]
