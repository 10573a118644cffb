"""The file registry and the 60-second lookup cache (found and not found)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from tawa.catalog.problems import CatalogError
from tawa.janus.registry import FileSource, Registry, service_from_resource
from tests.fixtures.janus import DOCMAN_ROUTES, component_doc


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def write(path: Path, *docs: dict) -> None:
    path.write_text(yaml.safe_dump_all(list(docs)))


def test_component_resource_becomes_a_service() -> None:
    svc = service_from_resource(component_doc("docman", "insureco", "http://127.0.0.1:9/", DOCMAN_ROUTES))
    assert (svc.name, svc.owner, svc.upstream, svc.provider_wallet) == (
        "docman", "insureco", "http://127.0.0.1:9", "wallet-insureco")
    assert [r.gas for r in svc.routes] == [1, 5, 3, 0, 0]


def test_without_annotation_the_cluster_dns_name_is_used() -> None:
    doc = {"metadata": {"name": "docman", "namespace": "docman-prod"}, "spec": {"owner": "insureco", "port": 8080}}
    assert service_from_resource(doc).upstream == "http://docman.docman-prod.svc.cluster.local:8080"


def test_invalid_components_are_refused() -> None:
    with pytest.raises(CatalogError):
        service_from_resource({"metadata": {"name": "x", "namespace": "n"}, "spec": {"owner": "Bad Owner"}})


def test_found_and_missing_lookups_are_cached_until_the_ttl(tmp_path: Path) -> None:
    path = tmp_path / "registry.yaml"
    write(path, component_doc("docman", "insureco", "http://a"))
    clock = Clock()
    registry = Registry(FileSource(path), ttl=60, clock=clock)

    async def scenario() -> None:
        assert (await registry.lookup("docman")).upstream == "http://a"
        assert await registry.lookup("newsvc") is None
        write(path, component_doc("newsvc", "acme", "http://n"))  # docman removed, newsvc added
        clock.now += 59
        assert (await registry.lookup("docman")).upstream == "http://a"  # still cached
        assert await registry.lookup("newsvc") is None  # the miss is cached too
        clock.now += 1.5
        assert await registry.lookup("docman") is None
        assert (await registry.lookup("newsvc")).owner == "acme"

    asyncio.run(scenario())


def test_a_broken_file_keeps_the_last_good_services(tmp_path: Path) -> None:
    path = tmp_path / "registry.yaml"
    write(path, component_doc("docman", "insureco", "http://a"))
    source = FileSource(path)
    assert asyncio.run(source.by_name("docman")) is not None
    path.write_text("{not: [valid yaml")
    assert asyncio.run(source.by_name("docman")) is not None


def test_bad_documents_are_skipped_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "registry.yaml"
    write(path, {"metadata": {"name": "broken"}, "spec": {"owner": "x"}},  # no namespace, no upstream
          component_doc("docman", "insureco", "http://a", namespace="docman-prod"))
    source = FileSource(path)
    assert asyncio.run(source.by_name("broken")) is None
    assert asyncio.run(source.by_account("docman-prod", "docman")) is not None
    assert asyncio.run(source.by_account("other", "docman")) is None


def test_concurrent_misses_share_one_lookup(tmp_path: Path) -> None:
    calls = 0

    class Slow:
        async def by_name(self, name: str) -> None:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.01)

        async def by_account(self, namespace: str, name: str) -> None:
            return None

    registry = Registry(Slow(), ttl=60)

    async def scenario() -> None:
        await asyncio.gather(*(registry.lookup("x") for _ in range(20)))

    asyncio.run(scenario())
    assert calls == 1
