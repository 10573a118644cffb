"""The OpenAPI document: bearer security on every non-public path, the Idempotency-Key header
required (and replays documented), batch bodies described by their items' models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from tawa.wallet import models as m
from tawa.wallet.settings import MAX_BATCH
from tawa.wallet.web import PUBLIC_PATHS, REPLAYED_DOC


def openapi_builder(app: FastAPI) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes,
                                 description=app.description)
            schema.setdefault("components", {})["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            for path, ops in schema["paths"].items():
                if path not in PUBLIC_PATHS:
                    for op in ops.values():
                        op["security"] = [{"bearer": []}]
                        for param in op.get("parameters", []):
                            # Optional in the handler only so that its absence gets our 400, not a 422.
                            if param["name"] == "Idempotency-Key":
                                param["required"] = True
                                if not path.endswith("/batch"):  # batch items answer for themselves
                                    _document_replays(op)
            app.openapi_schema = schema
        return app.openapi_schema

    return build


def _document_replays(op: dict[str, Any]) -> None:
    for code, response in op.get("responses", {}).items():
        if code.startswith("2"):
            response["headers"] = REPLAYED_DOC


def batch_body(model: type[m._In]) -> dict[str, Any]:
    item = model.model_json_schema(by_alias=True)
    body = {"type": "object", "required": ["items"], "properties": {
        "items": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": item}}}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": body}}}}


