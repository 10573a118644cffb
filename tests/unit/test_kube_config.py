"""tawa.kube.configuration: the one order every program finds its cluster in."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tawa.kube import NoCluster, configuration


def kubeconfig(path: Path, server: str) -> str:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}))
    return str(path)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home with ~/.kube/config, no $KUBECONFIG, and not in a pod."""
    (tmp_path / ".kube").mkdir()
    kubeconfig(tmp_path / ".kube" / "config", "https://home:6443")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return tmp_path


def test_a_named_kubeconfig_comes_before_kubeconfig_env_and_home(home: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", kubeconfig(home / "env", "https://env:6443"))
    assert configuration(kubeconfig(home / "named", "https://named:6443")).host == "https://named:6443"
    assert configuration().host == "https://env:6443"


def test_with_none_named_outside_a_pod_home_is_used(home: Path) -> None:
    assert configuration().host == "https://home:6443"


def test_a_named_kubeconfig_that_does_not_load_never_falls_back_to_home(home: Path) -> None:
    with pytest.raises(NoCluster, match="set KUBECONFIG or run `tawa dev up`"):
        configuration(str(home / "missing"))
