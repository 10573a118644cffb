"""Installing Tawa on a real control plane: `helm lint --strict`; the rendered chart
and manifests/ applied with a server-side dry run; a real `helm install` whose three
workloads become Available (kwok runs the pods); `kubectl auth can-i` on each
ServiceAccount, with the operator's rights in the namespace it serves (the default) and
cluster-wide (when asked); no admin token outside the wallet's namespace and no wallet
token in Janus's namespace nor the operator's or Janus's pods (projected tokens instead); the wallet's
NetworkPolicy read back and matched against the running pods (nothing here enforces it:
no CNI); and the operator and Janus run as real processes under the ServiceAccount tokens
the chart made (the wallet reviewing their projected tokens as its own ServiceAccount), so
its RBAC is shown to be enough, not only small.

Helm is built from its Go module and cached on first use (a few minutes once).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tawa.devcluster.build import KUBERNETES_VERSION, ensure_helm
from tests.fixtures.cluster import KubeCluster, OperatorProcess, component_manifest, eventually, operator_env
from tests.fixtures.janus import UPSTREAM_ANNOTATION, JanusProcess, RecordingUpstream
from tests.fixtures.wallet import WalletServer

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "tawa"
MANIFESTS = ROOT / "manifests"

# The real install: its own release, namespace and environment, apart from every other test.
RELEASE, NAMESPACE, ENV = "tawa-it", "tawa-it", "it"
JANUS_NS = f"janus-{ENV}"
# The namespace the release's operator serves (a Component's is {service}-{env}), and one it does not.
APP_NS, OTHER_NS = f"billing-{ENV}", f"reports-{ENV}"
NAMESPACED = [f"operator.watchNamespaces={{{APP_NS}}}"]
CLUSTER_WIDE = ["operator.watchNamespaces=null", "operator.clusterWide=true"]
OPERATOR_SA = f"system:serviceaccount:{NAMESPACE}:{RELEASE}-operator"
WALLET_SA = f"system:serviceaccount:{NAMESPACE}:{RELEASE}-wallet"
JANUS_SA = f"system:serviceaccount:{JANUS_NS}:{RELEASE}-janus"
CONSOLE_SA = f"system:serviceaccount:{NAMESPACE}:{RELEASE}-console"
API_AUDIENCE = "https://kubernetes.default.svc.cluster.local"


@dataclass
class Tools:
    helm: Path
    kubectl: str
    cluster: KubeCluster
    home: Path

    def env(self) -> dict[str, str]:
        home = str(self.home)
        return {**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig), "HELM_CACHE_HOME": f"{home}/cache",
                "HELM_CONFIG_HOME": f"{home}/config", "HELM_DATA_HOME": f"{home}/data"}

    def run(self, *argv: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, env=self.env(), timeout=240)
        if check:
            assert done.returncode == 0, f"{' '.join(argv)}\n{done.stdout}\n{done.stderr}"
        return done

    def helm_(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.helm), *args, check=check)

    def kubectl_(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(self.kubectl, *args, stdin=stdin, check=check)

    def template(self, release: str, namespace: str, *sets: str) -> str:
        argv = ["template", release, str(CHART), "--namespace", namespace, "--include-crds",
                "--kube-version", KUBERNETES_VERSION]
        for value in sets:
            argv += ["--set", value]
        return self.helm_(*argv).stdout

    def can_i(self, who: str, verb: str, resource: str, *flags: str) -> bool:
        done = self.kubectl_("auth", "can-i", verb, resource, f"--as={who}", *flags, check=False)
        assert done.stdout.strip() in ("yes", "no"), done.stderr
        return done.stdout.strip() == "yes"


@pytest.fixture(scope="session")
def helm_binary() -> Path:
    """Built from its Go module on first use (minutes once), then cached."""
    return ensure_helm()


@pytest.fixture(scope="module")
def tools(helm_binary: Path, kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory) -> Tools:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is needed on PATH for the install tests"
    return Tools(helm_binary, kubectl, kube_cluster, tmp_path_factory.mktemp("helm-home"))


def docs_of(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


@pytest.fixture
def scratch_namespaces(tools: Tools) -> Iterator[Callable[[list[dict[str, Any]], str], None]]:
    """`make(docs, *extra)`: namespaces must exist before a dry run can place objects in them.
    Creates them for real — the chart's own Namespace documents (with their Pod Security
    labels) and the extra ones labelled `restricted` — and deletes them afterwards.
    Namespaces that already existed are left as they are."""
    made: list[str] = []
    core = tools.cluster.core

    def exists(name: str) -> bool:
        try:
            core.read_namespace(name)
            return True
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise

    def make(docs: list[dict[str, Any]], *extra: str) -> None:
        wanted = [d for d in docs if d["kind"] == "Namespace"] + [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {
                "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/warn": "restricted"}}}
            for name in extra]
        for doc in wanted:
            if not exists(doc["metadata"]["name"]):
                core.create_namespace(doc)
                made.append(doc["metadata"]["name"])

    yield make
    for name in made:
        try:
            core.delete_namespace(name)
        except ApiException:
            pass


def dry_run(tools: Tools, manifest: str) -> str:
    done = tools.kubectl_("apply", "--server-side", "--dry-run=server", "-f", "-", stdin=manifest)
    # Pod Security (restricted) and deprecation warnings would be printed on stderr.
    assert "Warning" not in done.stderr, done.stderr
    return done.stdout


# --------------------------------------------------------------------------- lint and dry runs


def test_helm_lint_strict(tools: Tools) -> None:
    for sets in (NAMESPACED, CLUSTER_WIDE,
                 [*NAMESPACED, "wallet.database.type=postgresql", "wallet.database.postgresql.existingSecret=db"],
                 [*NAMESPACED, "monitoring.prometheusRule.enabled=true", "monitoring.serviceMonitor.enabled=true",
                  "monitoring.dashboard.enabled=true"]):
        args = ["lint", "--strict", str(CHART), "--kube-version", KUBERNETES_VERSION]
        for value in sets:
            args += ["--set", value]
        done = tools.helm_(*args)
        assert "0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("variant", ["default", "postgresql"])
def test_rendered_chart_passes_a_server_side_dry_run(tools: Tools, variant: str,
                                                     scratch_namespaces: Callable[..., None]) -> None:
    env = f"dry{variant[:2]}"
    namespace, served = f"tawa-{env}", f"app-{env}"
    sets = [f"env={env}", f"operator.watchNamespaces={{{served}}}"]
    if variant == "postgresql":  # and the operator cluster-wide
        sets += ["wallet.database.type=postgresql", "wallet.database.postgresql.existingSecret=wallet-db",
                 "wallet.replicas=2", "janus.replicas=3", *CLUSTER_WIDE]
    manifest = tools.template("tawa", namespace, *sets)
    scratch_namespaces(docs_of(manifest), namespace, served)
    out = dry_run(tools, manifest)
    for line in ("deployment.apps/tawa-operator serverside-applied (server dry run)",
                 "deployment.apps/tawa-wallet serverside-applied (server dry run)",
                 "statefulset.apps/janus serverside-applied (server dry run)",
                 "service/janus serverside-applied (server dry run)",
                 "networkpolicy.networking.k8s.io/tawa-wallet serverside-applied (server dry run)"):
        assert line in out, out
    operator_rights = "role" if variant == "default" else "clusterrole"
    assert f"{operator_rights}.rbac.authorization.k8s.io/tawa-operator serverside-applied" in out, out
    assert ("persistentvolumeclaim/tawa-wallet-data" in out) == (variant == "default")


def test_manifests_pass_a_server_side_dry_run_with_kustomize(tools: Tools,
                                                             scratch_namespaces: Callable[..., None]) -> None:
    files = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["resources"]
    docs = [d for name in files for d in docs_of((MANIFESTS / name).read_text())]
    # The operator's Role is in the namespace it serves (example-prod), which must exist.
    scratch_namespaces(docs, *{d["metadata"]["namespace"] for d in docs if d["kind"] == "Role"})
    # As a user applies it (-k), as a dry run.
    done = tools.kubectl_("apply", "--server-side", "--dry-run=server", "-k", str(MANIFESTS))
    assert "Warning" not in done.stderr, done.stderr
    applied = [line for line in done.stdout.splitlines() if line.endswith("serverside-applied (server dry run)")]
    assert len(applied) == len(docs), done.stdout
    assert "statefulset.apps/janus serverside-applied (server dry run)" in applied


# --------------------------------------------------------------------------- the real install


@dataclass
class Release:
    tools: Tools
    values: list[str]
    notes: str

    def secret(self, namespace: str) -> dict[str, str]:
        data = self.tools.cluster.core.read_namespaced_secret(f"{RELEASE}-tokens", namespace).data
        return {k: base64.b64decode(v).decode() for k, v in data.items()}


def static_volume(name: str, size: str, claim: tuple[str, str] | None = None) -> dict[str, Any]:
    """No provisioner here: a static PersistentVolume (no class), reserved for `claim` if given."""
    spec: dict[str, Any] = {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                            "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": f"/tmp/{name}"}}
    if claim:
        spec["claimRef"] = {"namespace": claim[0], "name": claim[1]}
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name}, "spec": spec}


JANUS_SPOOLS = [f"spool-janus-{ordinal}" for ordinal in range(2)]  # the StatefulSet's claims, one per pod


@pytest.fixture(scope="module")
def release(tools: Tools) -> Iterator[Release]:
    core = tools.cluster.core
    volumes = [f"{RELEASE}-wallet-pv", *(f"{RELEASE}-{claim}-pv" for claim in JANUS_SPOOLS)]
    core.create_persistent_volume(static_volume(volumes[0], "2Gi"))
    for claim, volume in zip(JANUS_SPOOLS, volumes[1:], strict=True):
        core.create_persistent_volume(static_volume(volume, "1Gi", (JANUS_NS, claim)))
    # Pod Security "restricted" is enforced on the pods of all three programs, as the
    # chart does itself for Janus's namespace.
    core.create_namespace({"metadata": {"name": NAMESPACE, "labels": {
        "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/warn": "restricted"}}})
    tools.cluster.create_namespace(APP_NS)  # a served namespace exists before the install
    values = [f"env={ENV}", "image.repository=registry.local/tawa", *NAMESPACED]
    args = ["install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--wait",
            "--timeout", "150s"]
    for value in values:
        args += ["--set", value]
    notes = tools.helm_(*args).stdout
    yield Release(tools, values, notes)
    tools.helm_("uninstall", RELEASE, "--namespace", NAMESPACE, check=False)
    # The claims are kept by design (money): a test run removes them by hand.
    deletions = [lambda: core.delete_namespaced_persistent_volume_claim(f"{RELEASE}-wallet-data", NAMESPACE),
                 *(lambda c=claim: core.delete_namespaced_persistent_volume_claim(c, JANUS_NS)
                   for claim in JANUS_SPOOLS),
                 *(lambda v=volume: core.delete_persistent_volume(v) for volume in volumes),
                 lambda: core.delete_namespace(NAMESPACE), lambda: core.delete_namespace(APP_NS)]
    for delete in deletions:
        try:
            delete()
        except ApiException:
            pass


def available(cluster: KubeCluster, namespace: str, name: str) -> bool:
    deployment = cluster.apps.read_namespaced_deployment(name, namespace)
    conditions = {c.type: c.status for c in deployment.status.conditions or []}
    return conditions.get("Available") == "True" and deployment.status.ready_replicas == deployment.spec.replicas


def janus_available(cluster: KubeCluster) -> bool:
    janus = cluster.apps.read_namespaced_stateful_set("janus", JANUS_NS)
    return (janus.status.available_replicas or 0) == janus.spec.replicas == janus.status.updated_replicas


def test_helm_install_makes_the_three_programs_available(release: Release) -> None:
    cluster = release.tools.cluster
    for name in (f"{RELEASE}-operator", f"{RELEASE}-wallet", f"{RELEASE}-console"):
        eventually(lambda n=name: available(cluster, NAMESPACE, n), 60, what=f"{NAMESPACE}/{name} Available")
    eventually(lambda: janus_available(cluster), 60, what=f"{JANUS_NS}/janus: 2 replicas available")
    assert cluster.apps.read_namespaced_stateful_set("janus", JANUS_NS).spec.replicas == 2
    # Two operators, active-active (docs/ha.md), and a PDB keeping one through a drain.
    assert cluster.deployment(NAMESPACE, f"{RELEASE}-operator").status.ready_replicas == 2
    policy = client.PolicyV1Api(cluster.api)
    assert policy.read_namespaced_pod_disruption_budget(f"{RELEASE}-operator", NAMESPACE).spec.max_unavailable == 1
    claims = [(NAMESPACE, f"{RELEASE}-wallet-data"), *((JANUS_NS, claim) for claim in JANUS_SPOOLS)]
    for namespace, claim in claims:
        assert cluster.core.read_namespaced_persistent_volume_claim(claim, namespace).status.phase == "Bound"
    status = release.tools.helm_("status", RELEASE, "--namespace", NAMESPACE, "-o", "json").stdout
    assert '"status":"deployed"' in status.replace(" ", "")
    assert f"http://janus.{JANUS_NS}.svc.cluster.local:3000/proxy/{{service}}" in release.notes, release.notes
    assert "2 replica(s), active-active" in release.notes, release.notes


def test_janus_is_the_service_janus_on_port_3000_with_ready_endpoints(release: Release) -> None:
    cluster = release.tools.cluster
    service = cluster.core.read_namespaced_service("janus", JANUS_NS)
    assert [(p.port, p.target_port) for p in service.spec.ports] == [(3000, "http")]

    def ready_endpoints() -> int:
        slices = client.DiscoveryV1Api(cluster.api).list_namespaced_endpoint_slice(
            JANUS_NS, label_selector="kubernetes.io/service-name=janus").items
        return sum(1 for s in slices for e in s.endpoints or [] if e.conditions.ready
                   and any(p.port == 3000 for p in s.ports or []))

    # The selector matches the pods: both replicas are behind the Service.
    eventually(lambda: ready_endpoints() == 2, 30, what="two ready Janus endpoints on port 3000")


def test_a_replaced_janus_pod_mounts_its_predecessors_spool(release: Release) -> None:
    core = release.tools.cluster.core

    def spool_claim(pod: str) -> str | None:
        volumes = core.read_namespaced_pod(pod, JANUS_NS).spec.volumes
        return next((v.persistent_volume_claim.claim_name for v in volumes if v.name == "spool"), None)

    assert [spool_claim(f"janus-{n}") for n in range(2)] == JANUS_SPOOLS
    old_uid = core.read_namespaced_pod("janus-0", JANUS_NS).metadata.uid
    core.delete_namespaced_pod("janus-0", JANUS_NS, grace_period_seconds=0)

    def replaced() -> bool:
        try:
            pod = core.read_namespaced_pod("janus-0", JANUS_NS)
        except ApiException:
            return False
        return pod.metadata.uid != old_uid and pod.status.phase == "Running"

    eventually(replaced, 60, what="janus-0 replaced and Running")
    assert spool_claim("janus-0") == "spool-janus-0"


def test_generated_secrets_are_the_admins_and_janus_jwt_and_survive_an_upgrade(release: Release) -> None:
    tools = release.tools
    before = release.secret(NAMESPACE)
    janus = release.secret(JANUS_NS)
    # The operator and Janus present projected service-account tokens: no program token is generated.
    assert set(before) == {"wallet-token"} and len(before["wallet-token"]) == 48
    assert set(janus) == {"janus-jwt-secret"} and len(janus["janus-jwt-secret"]) == 64
    args = ["upgrade", RELEASE, str(CHART), "--namespace", NAMESPACE, "--wait", "--timeout", "120s"]
    for value in release.values:
        args += ["--set", value]
    tools.helm_(*args)
    assert release.secret(NAMESPACE) == before
    assert release.secret(JANUS_NS) == janus


CAN = [
    # The operator, in both modes: its Components, their children by server-side apply, Events,
    # in the namespace it serves; CRDs read for discovery.
    (OPERATOR_SA, "watch", "components.tawa.insureco.io", ["-n", APP_NS], True),
    (OPERATOR_SA, "patch", "components.tawa.insureco.io", ["-n", APP_NS], True),
    (OPERATOR_SA, "patch", "components.tawa.insureco.io", ["--subresource=status", "-n", APP_NS], True),
    (OPERATOR_SA, "watch", "deployments.apps", ["-n", APP_NS], True),
    (OPERATOR_SA, "create", "deployments.apps", ["-n", APP_NS], True),
    (OPERATOR_SA, "patch", "deployments.apps", ["-n", APP_NS], True),
    (OPERATOR_SA, "patch", "deployments.apps", ["--subresource=scale", "-n", APP_NS], False),
    (OPERATOR_SA, "patch", "services", ["-n", APP_NS], True),
    (OPERATOR_SA, "create", "serviceaccounts", ["-n", APP_NS], True),
    (OPERATOR_SA, "create", "events", ["-n", APP_NS], True),
    (OPERATOR_SA, "patch", "events", ["-n", APP_NS], True),
    (OPERATOR_SA, "watch", "customresourcedefinitions.apiextensions.k8s.io", [], True),
    (OPERATOR_SA, "get", "secrets", ["-n", APP_NS], False),
    (OPERATOR_SA, "list", "secrets", ["--all-namespaces"], False),
    (OPERATOR_SA, "get", "secrets", ["-n", NAMESPACE], False),
    (OPERATOR_SA, "delete", "namespaces", [], False),
    (OPERATOR_SA, "delete", "deployments.apps", ["-n", APP_NS], False),
    (OPERATOR_SA, "delete", "components.tawa.insureco.io", ["-n", APP_NS], False),
    (OPERATOR_SA, "create", "pods", ["-n", APP_NS], False),
    (OPERATOR_SA, "get", "configmaps", ["-n", APP_NS], False),
    (OPERATOR_SA, "create", "serviceaccounts", ["--subresource=token", "-n", APP_NS], False),
    (OPERATOR_SA, "create", "roles.rbac.authorization.k8s.io", ["-n", APP_NS], False),
    (OPERATOR_SA, "create", "clusterrolebindings", [], False),
    (OPERATOR_SA, "impersonate", "serviceaccounts", ["-n", APP_NS], False),
    (OPERATOR_SA, "update", "customresourcedefinitions.apiextensions.k8s.io", [], False),
    # The wallet: TokenReview (the operator's and Janus's projected tokens), nothing else.
    (WALLET_SA, "create", "tokenreviews.authentication.k8s.io", [], True),
    (WALLET_SA, "get", "pods", ["-n", NAMESPACE], False),
    (WALLET_SA, "list", "components.tawa.insureco.io", ["--all-namespaces"], False),
    (WALLET_SA, "get", "secrets", ["-n", NAMESPACE], False),
    (WALLET_SA, "create", "events", ["-n", NAMESPACE], False),
    (WALLET_SA, "create", "serviceaccounts", ["--subresource=token", "-n", NAMESPACE], False),
    # Janus: read Components, review tokens; nothing else.
    (JANUS_SA, "create", "tokenreviews.authentication.k8s.io", [], True),
    (JANUS_SA, "list", "components.tawa.insureco.io", ["--all-namespaces"], True),
    (JANUS_SA, "get", "components.tawa.insureco.io", ["-n", "app-prod"], True),
    (JANUS_SA, "watch", "components.tawa.insureco.io", ["--all-namespaces"], True),
    (JANUS_SA, "patch", "components.tawa.insureco.io", ["-n", "app-prod"], False),
    (JANUS_SA, "list", "pods", ["--all-namespaces"], False),
    (JANUS_SA, "get", "secrets", ["-n", JANUS_NS], False),
    (JANUS_SA, "list", "secrets", ["--all-namespaces"], False),
    (JANUS_SA, "create", "deployments.apps", ["-n", "app-prod"], False),
    (JANUS_SA, "create", "events", ["-n", JANUS_NS], False),
    # The console: read Components (its page keeps each org to its own); nothing else.
    (CONSOLE_SA, "list", "components.tawa.insureco.io", ["--all-namespaces"], True),
    (CONSOLE_SA, "get", "components.tawa.insureco.io", ["-n", "app-prod"], True),
    (CONSOLE_SA, "watch", "components.tawa.insureco.io", ["--all-namespaces"], True),
    (CONSOLE_SA, "create", "components.tawa.insureco.io", ["-n", "app-prod"], False),
    (CONSOLE_SA, "patch", "components.tawa.insureco.io", ["-n", "app-prod"], False),
    (CONSOLE_SA, "delete", "components.tawa.insureco.io", ["-n", "app-prod"], False),
    (CONSOLE_SA, "get", "secrets", ["-n", NAMESPACE], False),
    (CONSOLE_SA, "list", "secrets", ["--all-namespaces"], False),
    (CONSOLE_SA, "create", "deployments.apps", ["-n", "app-prod"], False),
    (CONSOLE_SA, "create", "pods", ["-n", NAMESPACE], False),
    (CONSOLE_SA, "create", "events", ["-n", NAMESPACE], False),
    (CONSOLE_SA, "create", "tokenreviews.authentication.k8s.io", [], False),
    (CONSOLE_SA, "list", "pods", ["--all-namespaces"], False),
]
# The default: nothing beyond the served namespace, above all not where Tawa's tokens are.
CAN_NAMESPACED = [
    (OPERATOR_SA, "watch", "namespaces", [], True),  # kopf sees served namespaces come and go
    (OPERATOR_SA, "get", "namespaces", [], False),
    (OPERATOR_SA, "watch", "components.tawa.insureco.io", ["--all-namespaces"], False),
    (OPERATOR_SA, "list", "deployments.apps", ["--all-namespaces"], False),
    (OPERATOR_SA, "create", "deployments.apps", ["-n", OTHER_NS], False),
    (OPERATOR_SA, "patch", "services", ["-n", OTHER_NS], False),
    (OPERATOR_SA, "patch", "components.tawa.insureco.io", ["-n", OTHER_NS], False),
    (OPERATOR_SA, "create", "deployments.apps", ["-n", NAMESPACE], False),
    (OPERATOR_SA, "create", "deployments.apps", ["-n", JANUS_NS], False),
]
# operator.clusterWide=true: the same rights everywhere, the namespaces holding the tokens included
# (which is why it is not the default).
CAN_CLUSTER_WIDE = [
    (OPERATOR_SA, "list", "namespaces", [], False),
    (OPERATOR_SA, "watch", "components.tawa.insureco.io", ["--all-namespaces"], True),
    (OPERATOR_SA, "list", "deployments.apps", ["--all-namespaces"], True),
    (OPERATOR_SA, "watch", "deployments.apps", ["--all-namespaces"], True),
    (OPERATOR_SA, "create", "deployments.apps", ["-n", OTHER_NS], True),
    (OPERATOR_SA, "patch", "components.tawa.insureco.io", ["-n", OTHER_NS], True),
    (OPERATOR_SA, "create", "deployments.apps", ["-n", NAMESPACE], True),
]

Case = tuple[str, str, str, list[str], bool]


def wrong_answers(tools: Tools, cases: list[Case], settle: float = 0) -> list[str]:
    """The cases `kubectl auth can-i` answers otherwise; asked again for up to `settle` seconds
    (after an upgrade: the RBAC authorizer follows bindings through a watch)."""
    deadline = time.monotonic() + settle
    while True:
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda case: tools.can_i(*case[:3], *case[3]), cases))
        wrong = [f"{who.rsplit(':', 1)[1]} {'can' if got else 'cannot'} {verb} {resource} {' '.join(flags)}"
                 for (who, verb, resource, flags, expected), got in zip(cases, answers, strict=True)
                 if got != expected]
        if not wrong or time.monotonic() > deadline:
            return wrong
        time.sleep(1)


def test_service_accounts_can_do_what_they_need_and_nothing_more(release: Release) -> None:
    wrong = wrong_answers(release.tools, CAN + CAN_NAMESPACED)
    assert not wrong, "\n".join(wrong)


def operator_args(cluster: KubeCluster) -> list[str]:
    deployment = cluster.deployment(NAMESPACE, f"{RELEASE}-operator")
    assert deployment is not None
    args: list[str] = deployment.spec.template.spec.containers[0].args
    return args


def test_the_operator_is_cluster_wide_only_when_asked(release: Release) -> None:
    tools, cluster = release.tools, release.tools.cluster
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    assert rbac.read_namespaced_role(f"{RELEASE}-operator", APP_NS).rules
    assert f"{RELEASE}-operator" not in {b.metadata.name for b in rbac.list_cluster_role_binding().items}
    assert operator_args(cluster)[-2:] == ["--namespace", APP_NS]

    def upgrade(values: list[str]) -> None:
        args = ["upgrade", RELEASE, str(CHART), "--namespace", NAMESPACE, "--wait", "--timeout", "120s"]
        for value in values:
            args += ["--set", value]
        tools.helm_(*args)

    wide = [v for v in release.values if v not in NAMESPACED] + CLUSTER_WIDE
    upgrade(wide)
    try:
        assert "--namespace" not in operator_args(cluster)
        assert not rbac.list_namespaced_role(APP_NS, label_selector="app.kubernetes.io/component=operator").items
        wrong = wrong_answers(tools, CAN + CAN_CLUSTER_WIDE, settle=20)
        assert not wrong, "\n".join(wrong)
    finally:
        upgrade(release.values)
    wrong = wrong_answers(tools, CAN_NAMESPACED, settle=20)
    assert not wrong, "namespaced again:\n" + "\n".join(wrong)


def pod_spec(cluster: KubeCluster, kind: str, namespace: str, name: str) -> Any:
    apps = cluster.apps
    read = apps.read_namespaced_stateful_set if kind == "StatefulSet" else apps.read_namespaced_deployment
    return read(name, namespace).spec.template.spec


def test_no_wallet_token_in_janus_namespace_nor_in_the_operators_or_janus_pods(release: Release) -> None:
    """The admin's token is in one Secret, beside the wallet (the operator shares that namespace but
    may read no Secret and create no workload there: CAN, CAN_NAMESPACED); Janus's namespace holds
    no wallet token; the operator's and Janus's pods carry a projected token for the wallet instead."""
    cluster = release.tools.cluster
    admin = release.secret(NAMESPACE)["wallet-token"]
    holders = set()
    for secret in cluster.core.list_secret_for_all_namespaces().items:
        values = {base64.b64decode(v).decode(errors="replace") for v in (secret.data or {}).values()}
        if admin in values:
            holders.add((secret.metadata.namespace, secret.metadata.name))
    assert holders == {(NAMESPACE, f"{RELEASE}-tokens")}
    assert set(release.secret(JANUS_NS)) == {"janus-jwt-secret"}
    for kind, namespace, name in (("Deployment", NAMESPACE, f"{RELEASE}-operator"),
                                  ("StatefulSet", JANUS_NS, "janus")):
        spec = pod_spec(cluster, kind, namespace, name)
        [container] = spec.containers
        secret_keys = {e.value_from.secret_key_ref.key for e in container.env or []
                       if e.value_from and e.value_from.secret_key_ref}
        assert secret_keys <= {"janus-jwt-secret"}, (name, secret_keys)
        env = {e.name: e.value for e in container.env or []}
        assert env["TAWA_WALLET_TOKEN_FILE"] == "/var/run/secrets/tawa-wallet/token" and "TAWA_WALLET_TOKEN" not in env
        [volume] = [v for v in spec.volumes if v.name == "wallet-credential"]
        [source] = volume.projected.sources
        token = source.service_account_token
        assert (token.audience, token.expiration_seconds, token.path) == ("tawa-wallet", 3600, "token"), name
        assert not any(v.secret for v in spec.volumes), name
    wallet = pod_spec(cluster, "Deployment", NAMESPACE, f"{RELEASE}-wallet").containers[0]
    accounts = {e.name: e.value for e in wallet.env}["TAWA_WALLET_SERVICE_ACCOUNTS"]
    assert accounts == f"{NAMESPACE}/{RELEASE}-operator=operator,{JANUS_NS}/{RELEASE}-janus=janus"


def selector(match_labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))


def test_the_wallet_network_policy_selects_the_programs_pods_and_ports(release: Release) -> None:
    """Read back from the API and matched against the running pods. Enforcing it takes a CNI that
    implements NetworkPolicy, which this control plane has not: what it selects is what is checked."""
    cluster = release.tools.cluster
    core = cluster.core
    policy = client.NetworkingV1Api(cluster.api).read_namespaced_network_policy(f"{RELEASE}-wallet", NAMESPACE)
    spec = policy.spec

    def pods(namespace: str, match_labels: dict[str, str]) -> set[str]:
        return {p.metadata.name for p in core.list_namespaced_pod(namespace,
                                                                   label_selector=selector(match_labels)).items}

    wallet_pods = pods(NAMESPACE, spec.pod_selector.match_labels)
    assert wallet_pods and all(name.startswith(f"{RELEASE}-wallet-") for name in wallet_pods)
    assert spec.policy_types == ["Ingress"]
    api, metrics = spec.ingress
    assert [(p.port, p.protocol) for p in api.ports] == [("http", "TCP")]
    assert [(p.port, p.protocol) for p in metrics.ports] == [("metrics", "TCP")]
    operator, console, janus = api._from
    assert pods(NAMESPACE, operator.pod_selector.match_labels) == {
        p.metadata.name for p in core.list_namespaced_pod(NAMESPACE).items if p.metadata.name.startswith(
            f"{RELEASE}-operator-")} and operator.namespace_selector is None
    assert console.pod_selector.match_labels["app.kubernetes.io/component"] == "console"
    assert pods(NAMESPACE, console.pod_selector.match_labels) == {
        p.metadata.name for p in core.list_namespaced_pod(NAMESPACE).items if p.metadata.name.startswith(
            f"{RELEASE}-console-")} != set()
    [janus_ns] = core.list_namespace(label_selector=selector(janus.namespace_selector.match_labels)).items
    assert janus_ns.metadata.name == JANUS_NS
    assert pods(JANUS_NS, janus.pod_selector.match_labels) == {"janus-0", "janus-1"}
    [prometheus] = metrics._from
    assert prometheus.namespace_selector.match_labels == {"kubernetes.io/metadata.name": "monitoring"}
    # The named ports are the wallet pods' own, and the Service carries the metrics port.
    for name in wallet_pods:
        ports = {p.name: p.container_port for p in core.read_namespaced_pod(name, NAMESPACE).spec.containers[0].ports}
        assert ports == {"http": 8081, "metrics": 9090}
    service = core.read_namespaced_service(f"{RELEASE}-wallet", NAMESPACE)
    assert {(p.name, p.port) for p in service.spec.ports} == {("http", 8081), ("metrics", 9090)}


# --------------------------------------------------------------------------- RBAC is enough: the programs under it


def service_account_kubeconfig(cluster: KubeCluster, namespace: str, name: str, path: Path) -> Path:
    token = cluster.service_account_token(namespace, name, API_AUDIENCE, 3600)
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["users"] = [{"name": name, "user": {"token": token}}]
    config["contexts"][0]["context"]["user"] = name
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def wallet_token_file(cluster: KubeCluster, namespace: str, name: str, path: Path) -> Path:
    """What the kubelet projects into the operator's and Janus's pods: a token for audience tawa-wallet."""
    path.write_text(cluster.service_account_token(namespace, name, "tawa-wallet", 3600))
    return path


@pytest.fixture
def chart_wallet(release: Release, wallet_factory: Callable[..., WalletServer], tmp_path: Path) -> WalletServer:
    """A wallet set as the chart sets it: its TAWA_WALLET_SERVICE_ACCOUNTS, reviewing tokens as its ServiceAccount."""
    cluster = release.tools.cluster
    kubeconfig = service_account_kubeconfig(cluster, NAMESPACE, f"{RELEASE}-wallet", tmp_path / "wallet.kubeconfig")
    env = {e.name: e.value for e in pod_spec(cluster, "Deployment", NAMESPACE, f"{RELEASE}-wallet").containers[0].env}
    return wallet_factory(env={"TAWA_WALLET_SERVICE_ACCOUNTS": env["TAWA_WALLET_SERVICE_ACCOUNTS"],
                               "KUBECONFIG": str(kubeconfig)})


@pytest.fixture
def app_namespace(kube_cluster: KubeCluster) -> Iterator[str]:
    name = kube_cluster.create_namespace(f"it-{uuid.uuid4().hex[:6]}-prod")
    yield name
    try:
        kube_cluster.core.delete_namespace(name)
    except ApiException:
        pass


def refused(log: str) -> bool:
    """Whether a log shows the API server refusing: "Forbidden", or the code 403 (a bare
    "403" also matches a random port like 40311)."""
    return re.search(r"Forbidden|[\"']code[\"']: ?403\b|HTTP/1\.1 403\b", log) is not None


def test_operator_works_with_only_its_service_account(release: Release, chart_wallet: WalletServer,
                                                      tmp_path: Path) -> None:
    """As the chart runs it: serving its namespace, with the rights the chart gave it there, and
    its service account's projected token (no wallet secret) for the wallet."""
    app_namespace = APP_NS
    wallet = chart_wallet
    cluster = release.tools.cluster
    kubeconfig = service_account_kubeconfig(cluster, NAMESPACE, f"{RELEASE}-operator", tmp_path / "operator.kubeconfig")
    token_file = wallet_token_file(cluster, NAMESPACE, f"{RELEASE}-operator", tmp_path / "operator.token")
    org = f"org-{uuid.uuid4().hex[:8]}"
    wallet.client.create_wallet(org)
    ops = OperatorProcess(operator_env(cluster, wallet.url, "", KUBECONFIG=str(kubeconfig),
                                       TAWA_WALLET_TOKEN_FILE=str(token_file)), tmp_path / "operator")
    ops.start("--namespace", app_namespace)
    try:
        cluster.apply_component(component_manifest("billing", app_namespace, org))

        def ready() -> bool:
            gate, ready_ = (cluster.condition(app_namespace, "billing", t) for t in ("DeployGate", "Ready"))
            return bool(gate and gate["status"] == "True" and ready_ and ready_["status"] == "True")

        eventually(ready, 60, what=f"billing gated open and Ready (operator log:\n{ops.logs()})")
        assert cluster.deployment(app_namespace, "billing") is not None
        assert cluster.core.read_namespaced_service("billing", app_namespace)
        assert [e.reason for e in cluster.events(app_namespace, "billing")], "no Event posted"
    finally:
        ops.stop_all()
    logs = ops.logs()
    assert not refused(logs), logs


def test_janus_works_with_only_its_service_account(release: Release, chart_wallet: WalletServer, tmp_path: Path,
                                                   app_namespace: str, upstream: RecordingUpstream,
                                                   janus_factory: Callable[..., JanusProcess]) -> None:
    wallet = chart_wallet
    cluster = release.tools.cluster
    kubeconfig = service_account_kubeconfig(cluster, JANUS_NS, f"{RELEASE}-janus", tmp_path / "janus.kubeconfig")
    token_file = wallet_token_file(cluster, JANUS_NS, f"{RELEASE}-janus", tmp_path / "janus.token")
    payer, provider = (f"org-{uuid.uuid4().hex[:8]}" for _ in range(2))
    for org in (payer, provider):
        wallet.client.create_wallet(org)
    wallet.client.purchase(payer, 100)
    reports = component_manifest("reports", app_namespace, provider,
                                 routes=[{"path": "/render", "methods": ["POST"], "gas": 3}])
    reports["metadata"]["annotations"][UPSTREAM_ANNOTATION] = upstream.url
    cluster.apply_component(reports)
    cluster.apply_component(component_manifest("caller", app_namespace, payer))
    cluster.core.create_namespaced_service_account(app_namespace, {"metadata": {"name": "caller"}})
    caller_token = cluster.core.create_namespaced_service_account_token("caller", app_namespace,
        client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=["janus"],
                                                                           expiration_seconds=600))).status.token

    janus = janus_factory(cluster=True, wallet=wallet, args=["--kubeconfig", str(kubeconfig)],
                          env={"TAWA_WALLET_TOKEN": "", "TAWA_WALLET_TOKEN_FILE": str(token_file)})
    # Registry (list/get Components) and identity (TokenReview) both run as Janus's ServiceAccount.
    r = httpx.post(janus.proxy("reports", "/render"), headers={"Authorization": f"Bearer {caller_token}"})
    assert r.status_code == 200, r.text
    assert upstream.last.header("X-Caller-Org") == payer
    eventually(lambda: wallet.client.get_wallet(payer).balances.purchased == 97, 20, what="the caller's org charged")
    log = janus.log()
    assert not refused(log), log[-4000:]


def test_the_console_reads_its_orgs_components_with_only_its_service_account(
        release: Release, tmp_path: Path, app_namespace: str) -> None:
    from tawa.console import components

    cluster = release.tools.cluster
    kubeconfig = service_account_kubeconfig(cluster, NAMESPACE, f"{RELEASE}-console", tmp_path / "console.kubeconfig")
    mine, theirs = (f"org-{uuid.uuid4().hex[:8]}" for _ in range(2))
    cluster.apply_component(component_manifest("ledger", app_namespace, mine))
    cluster.apply_component(component_manifest("other", app_namespace, theirs))
    found = components.read(str(kubeconfig), mine)
    assert isinstance(found, list), found
    assert [c["metadata"]["name"] for c in found] == ["ledger"]


def test_uninstall_keeps_the_wallet_ledger_volume(release: Release) -> None:
    """Last: `helm uninstall` removes the programs but never the ledger's claim."""
    tools = release.tools
    tools.helm_("uninstall", RELEASE, "--namespace", NAMESPACE)
    cluster = tools.cluster
    assert cluster.core.read_namespaced_persistent_volume_claim(f"{RELEASE}-wallet-data", NAMESPACE).status.phase == \
        "Bound"
    for namespace, name in ((NAMESPACE, f"{RELEASE}-operator"), (NAMESPACE, f"{RELEASE}-wallet")):
        assert cluster.deployment(namespace, name) is None
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    names = {r.metadata.name for r in rbac.list_cluster_role().items}
    assert not {f"{RELEASE}-operator", f"{RELEASE}-operator-discovery", f"{RELEASE}-janus"} & names
    assert not rbac.list_namespaced_role(APP_NS, label_selector="app.kubernetes.io/component=operator").items
