"""The CRD in crds/ is generated from the models and must not drift from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tawa.catalog.crd import component_crd, render_crd_yaml

CRD_FILE = Path(__file__).parents[2] / "crds" / "components.tawa.insureco.io.yaml"


def test_crd_file_is_the_generated_one() -> None:
    assert CRD_FILE.read_text() == render_crd_yaml(), "run `make crds` and commit the result"


def test_schema_enforces_enums_and_non_negative_integer_gas() -> None:
    spec = component_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    dep = spec["properties"]["dependencies"]["items"]["properties"]
    route = spec["properties"]["routes"]["items"]["properties"]
    assert dep["transport"]["enum"] == ["direct", "janus", "gateway"]
    assert route["auth"]["enum"] == ["service", "public"]
    assert route["gas"] == {"minimum": 0, "type": "integer"}
    assert spec["required"] == ["owner"]


def test_printer_columns_and_short_name() -> None:
    crd = component_crd()["spec"]
    assert crd["names"]["shortNames"] == ["comp"]
    columns = crd["versions"][0]["additionalPrinterColumns"]
    assert [c["name"] for c in columns if not c.get("priority")] == ["Owner", "Tier", "Gate", "Ready", "Age"]
    # `kubectl get comp -o wide` adds how long a Component has been suspended.
    assert [(c["name"], c["jsonPath"]) for c in columns if c.get("priority") == 1] == [
        ("Suspended", ".status.suspended.since")]


def test_status_declares_the_billing_fields_the_operator_writes() -> None:
    status = component_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    fields = status["properties"]
    assert set(fields["suspended"]["properties"]) == {"since", "lastHour", "pods"}
    assert set(fields["idleHours"]["items"]["properties"]) == {"from", "through"}
    for name in ("lastChargedHour", "idleHours", "unpaidTokens", "suspended"):
        assert fields[name]["description"], name


def test_the_status_the_operator_writes_fits_the_schema() -> None:
    """Bucket ids, suspension and idle stretches as billing.py writes them, by type."""
    from tawa.controller import hosting
    from tawa.controller.suspension import Suspension

    fields = component_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    python_type = {"string": str, "integer": int, "object": dict, "array": list}

    def fits(schema: dict[str, Any], value: Any) -> bool:
        if not isinstance(value, python_type[schema["type"]]):
            return False
        if isinstance(value, dict):
            return all(k in schema["properties"] and fits(schema["properties"][k], v) for k, v in value.items())
        if isinstance(value, list):
            return all(fits(schema["items"], v) for v in value)
        return True

    written = {
        "lastChargedHour": hosting.bucket_id(7_200),
        "idleHours": hosting.idle_hours(frozenset({3, 4, 9}), 0.3),
        "unpaidTokens": 15,
        "suspended": Suspension("2024-01-01T00:00:05Z", hosting.bucket_id(3_600), 2).to_status(),
    }
    for name, value in written.items():
        assert fits(fields[name], value), (name, value)
