"""catalog-info.yaml parsing and validation: every problem named by field, with its fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tawa.catalog.problems import CatalogError
from tawa.catalog.validate import check_component, check_deployable, load_catalog

EXAMPLES = Path(__file__).parents[2] / "examples"


def catalog(spec: dict, annotations: dict | None = None, name: str = "docman") -> str:
    return yaml.safe_dump({
        "apiVersion": "backstage.io/v1alpha1", "kind": "Component",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {"owner": "insureco", **spec},
    })


def problems(text: str) -> dict[str, str]:
    with pytest.raises(CatalogError) as info:
        load_catalog(text)
    return {p.field: p.message for p in info.value.problems}


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_is_valid(path: Path) -> None:
    _, component = load_catalog(path.read_text())
    assert component.name == path.stem


def test_spec_docman_example_parses_with_its_tier_and_routes() -> None:
    info, component = load_catalog((EXAMPLES / "docman.yaml").read_text())
    assert component.tier.name == "small"
    assert [r.gas for r in info.spec.routes] == [1, 1, 5, 3, 0]
    assert info.spec.routes[4].auth == "public"


def test_default_tier_is_nano() -> None:
    _, component = load_catalog(catalog({}))
    assert component.tier.name == "nano"


def test_unknown_tier_names_the_annotation_and_the_choices() -> None:
    found = problems(catalog({}, {"insureco.io/pod-tier": "huge"}))
    message = found['metadata.annotations["insureco.io/pod-tier"]']
    assert "huge" in message and "nano, small, medium, large, xlarge" in message


def test_unknown_transport_is_refused() -> None:
    found = problems(catalog({"dependencies": [{"service": "docman", "transport": "carrier-pigeon"}]}))
    assert "direct" in found["spec.dependencies[0].transport"]
    assert "carrier-pigeon" in found["spec.dependencies[0].transport"]


@pytest.mark.parametrize("gas, expected", [(-1, "at least 0"), (1.5, "whole number"), ("5", "whole number"),
                                           (True, "whole number")])
def test_bad_gas_is_refused(gas: object, expected: str) -> None:
    found = problems(catalog({"routes": [{"path": "/documents", "methods": ["GET"], "gas": gas}]}))
    assert expected in found["spec.routes[0].gas"]


@pytest.mark.parametrize("path", ["documents", "/a b", "/a//b", "/a?x=1", "/a#frag", ""])
def test_bad_route_paths_are_refused(path: str) -> None:
    found = problems(catalog({"routes": [{"path": path, "gas": 1}]}))
    assert "spec.routes[0].path" in found


def test_methods_are_upper_cased_and_checked() -> None:
    info, _ = load_catalog(catalog({"routes": [{"path": "/x", "methods": ["get", "post"]}]}))
    assert info.spec.routes[0].methods == ["GET", "POST"]
    assert "spec.routes[0].methods[0]" in problems(catalog({"routes": [{"path": "/x", "methods": ["FETCH"]}]}))


@pytest.mark.parametrize("name", ["DocMan", "doc_man", "-docman", "a" * 64, "docman-", "2docman", "doc.man"])
def test_names_must_be_service_names(name: str) -> None:
    assert "DNS-1035 label, as it names the Service" in problems(catalog({}, name=name))["metadata.name"]
    with pytest.raises(CatalogError) as info:
        check_component(name, {}, {"owner": "insureco"})
    assert info.value.problems[0].field == "metadata.name"


def test_owner_and_dependency_services_must_be_dns_labels() -> None:
    text = yaml.safe_dump({"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
                           "metadata": {"name": "x"},
                           "spec": {"owner": "Insure Co", "internalDependencies": [{"service": "Doc_Man"}]}})
    found = problems(text)
    assert "DNS label" in found["spec.owner"]
    assert "DNS label" in found["spec.internalDependencies[0].service"]


def test_an_owner_is_never_a_wallet_id() -> None:
    """`owner: wallet-victim` would have been charged to org victim's wallet (money-path finding 3)."""
    found = problems(catalog({"owner": "wallet-victim"}))
    assert "never starts with 'wallet-'" in found["spec.owner"]
    with pytest.raises(CatalogError):
        check_component("x", {}, {"owner": "wallet-victim"})


def test_duplicate_service_with_different_transports_names_both_entries() -> None:
    found = problems(catalog({"internalDependencies": [{"service": "docman"}],
                              "dependencies": [{"service": "docman", "transport": "janus"}]}))
    message = found["spec.dependencies[0]"]
    assert "spec.internalDependencies[0]" in message and "janus" in message and "direct" in message


def test_duplicate_transports_message_names_the_ports_as_written() -> None:
    found = problems(catalog({"dependencies": [{"service": "docman"}, {"service": "docman", "transport": "janus"}]}))
    assert found["spec.dependencies[1]"] == (
        "'docman' is also listed at spec.dependencies[0] with transport 'direct', no port (the target's); "
        "this entry says transport 'janus', no port (the target's): keep one")
    with_port = problems(catalog({"dependencies": [{"service": "docman", "port": 8080},
                                                   {"service": "docman", "transport": "janus"}]}))
    assert "transport 'direct', port 8080; this entry says transport 'janus', no port" in with_port[
        "spec.dependencies[1]"]


def test_duplicate_transports_are_reported_beside_other_problems() -> None:
    spec = {"routes": [{"path": "/x", "gas": -1}], "replicas": -1,
            "internalDependencies": [{"service": "docman"}, {"service": "Bad_Name"}],
            "dependencies": [{"service": "docman", "transport": "janus"}]}
    found = problems(catalog(spec, name="Bad"))
    assert {"metadata.name", "spec.routes[0].gas", "spec.replicas", "spec.internalDependencies[1].service",
            "spec.dependencies[0]"} == set(found)
    assert "also listed at spec.internalDependencies[0] with transport 'direct'" in found["spec.dependencies[0]"]
    with pytest.raises(CatalogError) as info:  # a Component resource, as the operator checks it
        check_component("docman", {}, {"owner": "insureco", **spec})
    assert "spec.dependencies[0]" in {p.field for p in info.value.problems}


def test_identical_duplicates_are_accepted() -> None:
    load_catalog(catalog({"internalDependencies": [{"service": "docman", "transport": "janus"}],
                          "dependencies": [{"service": "docman", "transport": "janus"}]}))



def test_services_whose_variables_collide_are_refused() -> None:
    # DNS labels cannot hold '_', so collisions need the same service twice with other ports.
    found = problems(catalog({"dependencies": [{"service": "docman", "port": 80},
                                               {"service": "docman", "port": 81}]}))
    assert "port 80" in found["spec.dependencies[1]"]


def test_typo_in_a_field_name_suggests_the_right_one() -> None:
    found = problems(catalog({"internalDependancies": [{"service": "docman"}]}))
    assert found["spec.internalDependancies"] == "unknown field; did you mean 'internalDependencies'?"


def test_every_problem_is_listed_at_once() -> None:
    found = problems(catalog({"replicas": -1, "port": 70000,
                              "routes": [{"path": "x", "gas": -2}],
                              "dependencies": [{"service": "docman", "transport": "bus"}]},
                             {"insureco.io/pod-tier": "huge"}))
    assert len(found) == 6, found


def test_invalid_yaml_and_non_mapping_documents() -> None:
    assert "(yaml)" in problems("a: [unclosed")
    assert "(document)" in problems("- just\n- a list\n")


def test_component_resource_check_uses_the_same_rules() -> None:
    component = check_component("docman", {"insureco.io/pod-tier": "medium"},
                                {"owner": "insureco", "image": "img:1", "replicas": 2})
    assert component.tier.reserve(component.spec.replicas) == 100_740
    with pytest.raises(CatalogError) as info:
        check_component("docman", {}, {"owner": "insureco", "routes": [{"path": "/x", "auth": "private"}]})
    assert info.value.problems[0].field == "spec.routes[0].auth"


@pytest.mark.parametrize("image", [None, "", "   "])
def test_a_deployable_component_needs_an_image(image: str | None) -> None:
    spec = {"owner": "insureco"} | ({} if image is None else {"image": image})
    with pytest.raises(CatalogError) as exc:
        check_deployable("docman", {}, spec)
    assert [str(p) for p in exc.value.problems] == [
        "spec.image: is required to run pods: set it with `tawa deploy --image IMG`"]
    assert check_deployable("docman", {}, {"owner": "insureco", "image": "registry.local/docman:1"}).spec.image


def test_a_missing_image_is_listed_with_every_other_problem() -> None:
    with pytest.raises(CatalogError) as exc:
        check_deployable("docman", {"insureco.io/pod-tier": "huge"}, {"owner": "insureco", "image": ""})
    assert [p.field for p in exc.value.problems] == ['metadata.annotations["insureco.io/pod-tier"]', "spec.image"]
