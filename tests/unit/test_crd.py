"""The CRD in crds/ is generated from the models and must not drift from them."""

from __future__ import annotations

from pathlib import Path

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
    columns = [c["name"] for c in crd["versions"][0]["additionalPrinterColumns"]]
    assert columns == ["Owner", "Tier", "Gate", "Ready", "Age"]
