"""catalog-info.yaml → the Component resource the deploy pipeline applies (pure)."""

from __future__ import annotations

from typing import Any

from tawa.catalog.env import default_namespace
from tawa.catalog.models import CatalogInfo
from tawa.resource import API_VERSION, KIND


def render_component(
    catalog: CatalogInfo, env: str, image: str | None = None, replicas: int | None = None
) -> dict[str, Any]:
    meta = catalog.metadata
    spec = catalog.spec.model_dump(by_alias=True, exclude_unset=True)
    spec["owner"] = catalog.spec.owner
    if image is not None:
        spec["image"] = image
    if replicas is not None:
        spec["replicas"] = replicas
    metadata: dict[str, Any] = {
        "name": meta.name,
        "namespace": meta.namespace or default_namespace(meta.name, env),
    }
    if meta.annotations:
        metadata["annotations"] = dict(meta.annotations)
    if meta.labels:
        metadata["labels"] = dict(meta.labels)
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}
