"""The one way Tawa's programs reach the Kubernetes API server.

Every program (the CLI, the operator, Janus, the dev stack) gets its credentials
from `configuration`, in one order: the kubeconfig the caller names (a flag or
an argument), else the one `$KUBECONFIG` names, then the pod's service account
(in-cluster); with no kubeconfig named, in-cluster first, then ~/.kube/config.
A named kubeconfig that does not load falls back to in-cluster, never to
~/.kube/config: a typo should not reach a developer's own cluster.

The calls go through the synchronous `kubernetes` client's connection pool and
credentials, as raw requests (`request`, `read`): the typed API classes cost
~27 MB of imports and turn every answer into models nobody reads. The
Component's calls are in `tawa.kube.components`, TokenReview in
`tawa.kube.tokenreview`; kopf's own session (`tawa.controller.login`) is built
from the same `configuration`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

DEFAULT_KUBECONFIG = "~/.kube/config"
APPLY_PATCH, MERGE_PATCH = "application/apply-patch+yaml", "application/merge-patch+json"


class NoCluster(RuntimeError):
    pass


def _kubeconfig(path: str) -> Callable[[client.Configuration], None]:
    return lambda configuration: config.load_kube_config(config_file=path, client_configuration=configuration)


def _in_cluster(configuration: client.Configuration) -> None:
    config.load_incluster_config(client_configuration=configuration)


def _sources(kubeconfig: str | None) -> Iterator[Callable[[client.Configuration], None]]:
    named = kubeconfig or os.environ.get("KUBECONFIG")
    yield from (_kubeconfig(named), _in_cluster) if named else (_in_cluster, _kubeconfig(DEFAULT_KUBECONFIG))


def configuration(kubeconfig: str | None = None) -> client.Configuration:
    """The credentials of the first source that loads (see the module's docstring for the order)."""
    failures = []
    for load in _sources(kubeconfig):
        loaded = client.Configuration()
        try:
            load(loaded)
        except (config.ConfigException, OSError, TypeError) as exc:
            failures.append(str(exc))
            continue
        return loaded
    raise NoCluster(f"no cluster configured ({'; '.join(failures)}); set KUBECONFIG or run `tawa dev up`")


def api_client(kubeconfig: str | None = None, pool_size: int | None = None) -> client.ApiClient:
    """A client with `configuration`'s credentials; `pool_size` connections kept for threads that call at once."""
    loaded = configuration(kubeconfig)
    if pool_size is not None:
        loaded.connection_pool_maxsize = pool_size
    return client.ApiClient(loaded)


def request(api: client.ApiClient, method: str, path: str, body: dict[str, Any] | None = None,
            content_type: str | None = None, request_timeout: float | None = None, **query: Any) -> bytes:
    """One call through the client's connection pool and credentials, within `request_timeout`
    seconds when given; the answer's body. Raises ApiException for an answer outside 2xx."""
    headers = {"Accept": "application/json", **({"Content-Type": content_type} if content_type else {})}
    params = [(k, v) for k, v in query.items() if v is not None]
    answer = api.call_api(*api.param_serialize(method, path, query_params=params, header_params=headers,
                                               body=body, auth_settings=["BearerToken"]),
                          _request_timeout=request_timeout)
    data: bytes = answer.read()
    if not 200 <= answer.status <= 299:
        raise ApiException.from_response(http_resp=answer, body=data.decode(errors="replace"), data=None)
    return data  # decoded only where it is read: most answers are not


def call(api: client.ApiClient, method: str, path: str, body: dict[str, Any] | None = None,
         content_type: str | None = None, **query: Any) -> dict[str, Any]:
    """`request`, its answer decoded."""
    answer: dict[str, Any] = json.loads(request(api, method, path, body, content_type, **query))
    return answer


def read(api: client.ApiClient, path: str) -> dict[str, Any] | None:
    """The object at `path`; None when there is none."""
    try:
        return call(api, "GET", path)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
