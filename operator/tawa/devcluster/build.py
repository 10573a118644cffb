"""Build the local control plane's binaries from Go modules, cached by version.

There is no binary download here: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok are compiled from their published Go modules through the
Go module proxy, once, into ``$TAWA_CACHE_DIR/k8s-<version>/bin``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

KUBERNETES_VERSION = "v1.37.2"
KWOK_VERSION = "v0.8.0"
HELM_VERSION = "v3.22.0"

# k8s.io/kubernetes replaces each staging module with a local path; a wrapper
# module must pin them to the published v0.x tags of the same release instead.
STAGING_MODULES = (
    "api apiextensions-apiserver apimachinery apiserver cli-runtime client-go "
    "cloud-provider cluster-bootstrap code-generator component-base component-helpers "
    "controller-manager cri-api cri-client cri-streaming csi-translation-lib "
    "dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator "
    "kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics "
    "mount-utils pod-security-admission sample-apiserver sample-cli-plugin "
    "sample-controller streaming"
).split()

KUBE_COMMANDS = {
    "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
    "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
    "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
    "etcd": "go.etcd.io/etcd/server/v3",
}
BINARIES = (*KUBE_COMMANDS, "kwok")
KWOK_STAGES = "kwok-stages.yaml"
# kwok's own "fast" stages: nodes become Ready, pods Running and Ready at once.
KWOK_STAGE_DIRS = ("kustomize/stage/node/fast", "kustomize/stage/pod/fast")


def cache_root() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tawa"
    return Path(os.environ.get("TAWA_CACHE_DIR", default))


def bin_dir(version: str = KUBERNETES_VERSION) -> Path:
    return cache_root() / f"k8s-{version}" / "bin"


def _staging_version(version: str) -> str:
    major_minor_patch = version.lstrip("v").split(".")
    return "v0." + ".".join(major_minor_patch[1:])


def _wrapper_go_mod(version: str) -> str:
    staging = _staging_version(version)
    replaces = "\n".join(f"\tk8s.io/{m} => k8s.io/{m} {staging}" for m in STAGING_MODULES)
    return (
        "module tawa.local/controlplane\n\ngo 1.26.0\n\n"
        f"require k8s.io/kubernetes {version}\n\n"
        f"replace (\n{replaces}\n)\n"
    )


def _wrapper_main_imports() -> str:
    # A blank-import file keeps every command's packages in the module graph.
    return "//go:build tools\n\npackage tools\n\nimport (\n" + "".join(
        f'\t_ "{pkg}"\n' for pkg in KUBE_COMMANDS.values()
    ) + ")\n"


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, cwd=cwd, env=env, check=True)


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GOFLAGS", "-mod=mod")
    env["CGO_ENABLED"] = "0"
    return env


def build_kubernetes(version: str, out: Path) -> None:
    env = _go_env()
    with tempfile.TemporaryDirectory(prefix="tawa-k8s-build-") as tmp:
        work = Path(tmp)
        (work / "go.mod").write_text(_wrapper_go_mod(version))
        (work / "tools.go").write_text(_wrapper_main_imports())
        _run(["go", "get", f"k8s.io/kubernetes@{version}", "go.etcd.io/etcd/server/v3"], work, env)
        _run(["go", "mod", "tidy", "-e"], work, env)
        ldflags = (
            "-s -w "
            f"-X k8s.io/component-base/version.gitVersion={version} "
            f"-X k8s.io/component-base/version.gitMajor={version.lstrip('v').split('.')[0]} "
            f"-X k8s.io/component-base/version.gitMinor={version.split('.')[1]} "
            "-X k8s.io/component-base/version.gitTreeState=clean"
        )
        for name, pkg in KUBE_COMMANDS.items():
            _run(["go", "build", "-trimpath", "-tags", "tools", "-ldflags", ldflags,
                  "-o", str(out / name), pkg], work, env)


def build_go_install(module_cmd: str, version: str, out: Path, ldflags: str = "") -> None:
    env = _go_env()
    env["GOBIN"] = str(out)
    env.pop("GOFLAGS", None)
    _run(["go", "install", "-trimpath", "-ldflags", f"-s -w {ldflags}".strip(), f"{module_cmd}@{version}"], out, env)


def _helm_ldflags() -> str:
    """Without these, a helm built from source believes it talks to Kubernetes v1.20."""
    major, minor = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    return " ".join([
        *(f"-X helm.sh/helm/v3/pkg/{pkg}.k8sVersionMajor={major} -X helm.sh/helm/v3/pkg/{pkg}.k8sVersionMinor={minor}"
          for pkg in ("chartutil", "lint/rules")),
        f"-X helm.sh/helm/v3/internal/version.version={HELM_VERSION}",
    ])


def install_kwok_stages(out: Path) -> None:
    """Copy kwok's default Stage documents out of its module into one config file."""
    env = _go_env()
    env["GOFLAGS"] = "-mod=mod"
    found = subprocess.run(["go", "mod", "download", "-json", f"sigs.k8s.io/kwok@{KWOK_VERSION}"],
                           capture_output=True, text=True, check=True, env=env, cwd=out)
    module_dir = Path(json.loads(found.stdout)["Dir"])
    docs = [p.read_text() for d in KWOK_STAGE_DIRS for p in sorted((module_dir / d).glob("*.yaml"))
            if p.name != "kustomization.yaml"]
    (out / KWOK_STAGES).write_text("\n---\n".join(docs))


def ensure_control_plane(version: str = KUBERNETES_VERSION) -> Path:
    """Return the folder holding all control-plane binaries, building what is missing."""
    out = bin_dir(version)
    if all((out / b).exists() for b in (*BINARIES, KWOK_STAGES)):
        return out
    if shutil.which("go") is None:
        raise RuntimeError("Go is required to build the local control plane (none on PATH)")
    out.mkdir(parents=True, exist_ok=True)
    if not all((out / b).exists() for b in KUBE_COMMANDS):
        build_kubernetes(version, out)
    if not (out / "kwok").exists():
        build_go_install("sigs.k8s.io/kwok/cmd/kwok", KWOK_VERSION, out)
    if not (out / KWOK_STAGES).exists():
        install_kwok_stages(out)
    return out


def ensure_helm() -> Path:
    out = cache_root() / f"helm-{HELM_VERSION}-k8s-{KUBERNETES_VERSION}" / "bin"
    if not (out / "helm").exists():
        out.mkdir(parents=True, exist_ok=True)
        build_go_install("helm.sh/helm/v3/cmd/helm", HELM_VERSION, out, _helm_ldflags())
    return out / "helm"


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "control-plane"
    print(ensure_helm() if what == "helm" else ensure_control_plane())
