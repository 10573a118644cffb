"""Kubernetes access shared by the CLI and the tests (the operator uses kopf's)."""

from __future__ import annotations

from typing import Any

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from tawa.resource import API_GROUP, PLURAL


class NoCluster(RuntimeError):
    pass


def api_client(kubeconfig: str | None = None) -> client.ApiClient:
    try:
        return config.new_client_from_config(config_file=kubeconfig)
    except (ConfigException, FileNotFoundError, TypeError) as exc:
        try:
            config.load_incluster_config()
            return client.ApiClient()
        except ConfigException:
            raise NoCluster(f"no cluster configured ({exc}); set KUBECONFIG or run `tawa dev up`") from None


def list_components(api: client.ApiClient, namespace: str | None = None) -> list[dict[str, Any]]:
    custom = client.CustomObjectsApi(api)
    if namespace:
        result = custom.list_namespaced_custom_object(API_GROUP, "v1", namespace, PLURAL)
    else:
        result = custom.list_cluster_custom_object(API_GROUP, "v1", PLURAL)
    return list(result.get("items", []))
