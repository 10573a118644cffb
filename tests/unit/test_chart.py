"""The Helm chart, manifests/, the Dockerfile and the monitoring files, checked
without a cluster: what `helm template` renders (default, PostgreSQL, monitoring),
that the programs accept every command, flag and env name the chart gives them,
and that alerts and the dashboard use metrics the programs export.

Helm is built from its Go module and cached on first use (a few minutes once).
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "tawa"
# The chart makes no default choice of the namespaces the operator serves: every render names one
# (a later --set overrides it: operator.watchNamespaces=null,operator.clusterWide=true for cluster-wide).
SERVED = "operator.watchNamespaces={billing-prod}"
CLUSTER_WIDE = ("operator.watchNamespaces=null", "operator.clusterWide=true")
WALLET_CREDENTIAL_DIR = "/var/run/secrets/tawa-wallet"  # the projected token of the operator and Janus


def _load_render_script() -> Any:
    spec = importlib.util.spec_from_file_location("render_manifests", ROOT / "scripts" / "render_manifests.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render_manifests = _load_render_script()


@pytest.fixture(scope="session")
def helm() -> Path:
    from tawa.devcluster.build import ensure_helm

    return ensure_helm()


def template(helm: Path, *sets: str, release: str = "tawa", namespace: str = "tawa-system",
             check: bool = True) -> list[dict[str, Any]] | subprocess.CompletedProcess[str]:
    from tawa.devcluster.build import KUBERNETES_VERSION

    argv = [str(helm), "template", release, str(CHART), "--namespace", namespace, "--kube-version",
            KUBERNETES_VERSION]
    for value in (SERVED, *sets):
        argv += ["--set", value]
    done = subprocess.run(argv, capture_output=True, text=True)
    if not check:
        return done
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    present = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found among {present}"
    return found[0]


WORKLOADS = ("Deployment", "StatefulSet")


def containers(docs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every workload's containers; the three programs and the console must all be among them."""
    found = [(d, c) for d in docs if d["kind"] in WORKLOADS for c in d["spec"]["template"]["spec"]["containers"]]
    assert {d["metadata"]["name"] for d, _ in found} == {"tawa-operator", "tawa-wallet", "janus", "tawa-console"}
    return found


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


@pytest.fixture(scope="module")
def default_docs(helm: Path) -> list[dict[str, Any]]:
    return template(helm)  # type: ignore[return-value]


# --------------------------------------------------------------------------- CRD, manifests


def test_chart_crd_is_the_generated_crd_byte_for_byte() -> None:
    assert (CHART / "crds" / "components.tawa.insureco.io.yaml").read_bytes() == \
        (ROOT / "crds" / "components.tawa.insureco.io.yaml").read_bytes(), \
        "run `python scripts/render_manifests.py` to copy the generated CRD into the chart"


def test_manifests_are_the_chart_rendered_with_default_values(helm: Path) -> None:
    problems = render_manifests.drift(helm)
    assert not problems, "manifests/ drifted from helm/tawa; run `python scripts/render_manifests.py`:\n" + \
        "\n".join(problems)


def test_manifests_hold_no_generated_secret_and_no_helm_marks() -> None:
    docs = [d for p in sorted((ROOT / "manifests").glob("*.yaml")) if p.name != "kustomization.yaml"
            for d in yaml.safe_load_all(p.read_text()) if d]
    assert not [d for d in docs if d["kind"] == "Secret"]
    text = "".join(p.read_text() for p in (ROOT / "manifests").glob("*.yaml"))
    assert "helm.sh/" not in text and "managed-by: Helm" not in text
    kustomization = yaml.safe_load((ROOT / "manifests" / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in (ROOT / "manifests").glob("*.yaml")
                                                        if p.name != "kustomization.yaml")


# --------------------------------------------------------------------------- rendering


def test_default_render_has_the_three_programs_and_janus_contract(default_docs: list[dict[str, Any]]) -> None:
    names = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in default_docs}
    for expected in [("Deployment", "tawa-system", "tawa-operator"), ("Deployment", "tawa-system", "tawa-wallet"),
                     ("StatefulSet", "janus-prod", "janus"), ("Service", "tawa-system", "tawa-wallet"),
                     ("Namespace", None, "janus-prod"), ("PersistentVolumeClaim", "tawa-system", "tawa-wallet-data"),
                     ("PodDisruptionBudget", "janus-prod", "janus")]:
        assert expected in names
    janus = find(default_docs, "Service", "janus")
    # The injected URL is http://janus.janus-{env}.svc.cluster.local:3000/proxy/{service}.
    assert janus["metadata"]["namespace"] == "janus-prod"
    assert [(p["port"], p["targetPort"]) for p in janus["spec"]["ports"]] == [(3000, "http")]
    janus_pod = find(default_docs, "StatefulSet", "janus")["spec"]["template"]
    assert janus_pod["spec"]["containers"][0]["ports"][0]["containerPort"] == 3000
    assert janus["spec"]["selector"].items() <= janus_pod["metadata"]["labels"].items()


def test_janus_namespace_follows_env(helm: Path) -> None:
    docs = template(helm, "env=staging")
    assert find(docs, "Service", "janus")["metadata"]["namespace"] == "janus-staging"  # type: ignore[arg-type]
    operator = find(docs, "Deployment", "tawa-operator")  # type: ignore[arg-type]
    assert env_of(operator["spec"]["template"]["spec"]["containers"][0])["TAWA_ENV"] == "staging"


def test_every_object_has_the_recommended_labels(default_docs: list[dict[str, Any]]) -> None:
    for doc in default_docs:
        labels = doc["metadata"].get("labels", {})
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
                    "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by", "helm.sh/chart"):
            assert key in labels, f"{doc['kind']}/{doc['metadata']['name']} lacks {key}"
        if doc["kind"] in (*WORKLOADS, "Service", "ServiceAccount", "PodDisruptionBudget"):
            assert labels.get("app.kubernetes.io/component") in ("operator", "wallet", "janus", "console")


def test_every_container_is_locked_down_probed_and_sized(default_docs: list[dict[str, Any]]) -> None:
    for deployment, container in containers(default_docs):
        pod = deployment["spec"]["template"]["spec"]
        where = deployment["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0, where
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, where
        assert sc["capabilities"]["drop"] == ["ALL"], where
        assert container["livenessProbe"] and container["readinessProbe"], where
        assert container["resources"]["requests"]["memory"] and container["resources"]["limits"]["memory"], where
        # Writable only where needed: /tmp (memory), and the data dir for the wallet and Janus's spool;
        # read-only: the projected wallet credential of the operator and Janus.
        mounts = {m["mountPath"] for m in container.get("volumeMounts", []) if not m.get("readOnly")}
        assert mounts <= {"/tmp", "/var/lib/tawa"}, (where, mounts)
        read_only = {m["mountPath"] for m in container.get("volumeMounts", []) if m.get("readOnly")}
        assert read_only <= {WALLET_CREDENTIAL_DIR}, (where, read_only)


def test_the_wallet_may_only_review_tokens(default_docs: list[dict[str, Any]]) -> None:
    """The wallet uses the API for TokenReview alone: its ClusterRole creates tokenreviews, nothing else."""
    bound = {s["name"] for d in default_docs if d["kind"] in ("ClusterRoleBinding", "RoleBinding")
             for s in d["subjects"]}
    assert bound == {"tawa-operator", "tawa-janus", "tawa-wallet", "tawa-console"}
    assert find(default_docs, "ClusterRole", "tawa-wallet")["rules"] == [
        {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]}]
    wallet = find(default_docs, "Deployment", "tawa-wallet")["spec"]["template"]["spec"]
    assert wallet["automountServiceAccountToken"] is True


def test_the_console_may_only_read_components_and_reaches_the_wallet_in_cluster(
        default_docs: list[dict[str, Any]]) -> None:
    assert find(default_docs, "ClusterRole", "tawa-console")["rules"] == [
        {"apiGroups": ["tawa.insureco.io"], "resources": ["components"], "verbs": ["get", "list", "watch"]}]
    binding = find(default_docs, "ClusterRoleBinding", "tawa-console")
    assert binding["roleRef"]["name"] == "tawa-console"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "tawa-console", "namespace": "tawa-system"}]
    pod = find(default_docs, "Deployment", "tawa-console")["spec"]["template"]
    assert pod["metadata"]["labels"]["app.kubernetes.io/component"] == "console"  # the wallet's policy admits it
    assert pod["spec"]["serviceAccountName"] == "tawa-console"
    [container] = pod["spec"]["containers"]
    args = container["args"]
    assert args[args.index("--wallet-url") + 1] == "http://tawa-wallet.tawa-system.svc.cluster.local:8081"
    assert args[args.index("--kubeconfig") + 1] == ""  # in-cluster
    assert args[args.index("--port") + 1] == "8090" and args[args.index("--host") + 1] == "0.0.0.0"
    assert container["readinessProbe"]["httpGet"] == container["livenessProbe"]["httpGet"] == {
        "path": "/healthz", "port": "http"}
    service = find(default_docs, "Service", "tawa-console")["spec"]
    assert service["ports"] == [{"name": "http", "port": 8090, "targetPort": "http", "protocol": "TCP"}]
    assert service["selector"]["app.kubernetes.io/component"] == "console"


def test_the_console_can_be_left_out(helm: Path) -> None:
    docs = template(helm, "console.enabled=false")
    assert not [d for d in docs if "console" in d["metadata"]["name"]]  # type: ignore[union-attr]


def test_no_role_grants_secrets_wildcards_or_deletes(default_docs: list[dict[str, Any]]) -> None:
    for role in (d for d in default_docs if d["kind"] in ("ClusterRole", "Role")):
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], role["metadata"]["name"]
            assert "secrets" not in rule["resources"], role["metadata"]["name"]
            assert not {"delete", "deletecollection", "escalate", "bind", "impersonate"} & set(rule["verbs"])


def test_wallet_sqlite_on_a_volume_by_default(default_docs: list[dict[str, Any]]) -> None:
    wallet = find(default_docs, "Deployment", "tawa-wallet")
    pod = wallet["spec"]["template"]["spec"]
    assert wallet["spec"]["strategy"]["type"] == "Recreate"
    assert env_of(pod["containers"][0])["TAWA_WALLET_DATABASE_URL"] == "sqlite:////var/lib/tawa/wallet.db"
    data = next(v for v in pod["volumes"] if v["name"] == "data")
    assert data["persistentVolumeClaim"]["claimName"] == "tawa-wallet-data"
    pvc = find(default_docs, "PersistentVolumeClaim", "tawa-wallet-data")
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_wallet_postgresql_from_an_existing_secret(helm: Path) -> None:
    docs = template(helm, "wallet.database.type=postgresql", "wallet.database.postgresql.existingSecret=wallet-db",
                    "wallet.replicas=2")
    assert not [d for d in docs if d["kind"] == "PersistentVolumeClaim"]  # type: ignore[union-attr]
    wallet = find(docs, "Deployment", "tawa-wallet")  # type: ignore[arg-type]
    assert wallet["spec"]["replicas"] == 2 and "strategy" not in wallet["spec"]
    url = env_of(wallet["spec"]["template"]["spec"]["containers"][0])["TAWA_WALLET_DATABASE_URL"]
    assert url == {"secretKeyRef": {"name": "wallet-db", "key": "database-url"}}
    assert find(docs, "PodDisruptionBudget", "tawa-wallet")  # type: ignore[arg-type]


@pytest.mark.parametrize(("sets", "message"), [
    (["bogus=1"], "additional properties 'bogus' not allowed"),
    (["wallet.bogus=1"], "additional properties 'bogus' not allowed"),
    (["janus.podDisruptionBudget.bogus=1"], "additional properties 'bogus' not allowed"),
    (["wallet.replicas=2"], "maximum"),
    (["wallet.database.type=postgresql"], "minLength"),
    (["wallet.database.type=mysql"], "wallet/database/type"),
    (["env=Prod_1"], "/env"),
    (["operator.suspendAfter=-1"], "suspendAfter"),
    (["operator.replicas=two"], "operator/replicas"),
    (["operator.podDisruptionBudget.maxUnavailable=0"], "operator/podDisruptionBudget/maxUnavailable"),
    (["janus.persistence.size=lots"], "janus/persistence/size"),
])
def test_schema_refuses_bad_values(helm: Path, sets: list[str], message: str) -> None:
    done = template(helm, *sets, check=False)
    assert done.returncode != 0 and message in done.stderr, done.stderr  # type: ignore[union-attr]


def test_existing_secret_is_used_and_none_is_rendered(helm: Path) -> None:
    docs = template(helm, "secrets.create=false", "secrets.existingSecret=my-tokens")
    assert not [d for d in docs if d["kind"] == "Secret"]  # type: ignore[union-attr]
    wallet = next(c for d, c in containers(docs) if d["metadata"]["name"] == "tawa-wallet")  # type: ignore[arg-type]
    assert env_of(wallet)["TAWA_WALLET_TOKEN"]["secretKeyRef"]["name"] == "my-tokens"


def test_only_the_wallet_holds_a_wallet_token(default_docs: list[dict[str, Any]]) -> None:
    """The admin's token stays beside the wallet; the operator and Janus present projected
    service-account tokens (audience tawa-wallet, an hour) that the wallet maps to their roles."""
    secrets = {d["metadata"]["namespace"]: d["data"] for d in default_docs if d["kind"] == "Secret"}
    assert set(secrets) == {"tawa-system", "janus-prod"}
    assert set(secrets["tawa-system"]) == {"wallet-token"} and len(secrets["tawa-system"]["wallet-token"]) >= 48
    assert set(secrets["janus-prod"]) == {"janus-jwt-secret"}
    keys = {d["metadata"]["name"]: {e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in c.get("env", [])
                                    if e["name"].startswith("TAWA_WALLET") and "valueFrom" in e}
            for d, c in containers(default_docs)}
    assert keys == {"tawa-operator": {}, "janus": {}, "tawa-wallet": {"TAWA_WALLET_TOKEN": "wallet-token"},
                    "tawa-console": {}}
    wallet = next(c for d, c in containers(default_docs) if d["metadata"]["name"] == "tawa-wallet")
    assert env_of(wallet)["TAWA_WALLET_SERVICE_ACCOUNTS"] == \
        "tawa-system/tawa-operator=operator,janus-prod/tawa-janus=janus"
    for deployment, container in containers(default_docs):
        if deployment["metadata"]["name"] == "tawa-wallet":
            continue
        if deployment["metadata"]["name"] == "tawa-console":  # no wallet credential at all: org keys only
            assert not [n for n in env_of(container) if n.startswith("TAWA_WALLET")]
            assert "wallet-credential" not in {v["name"] for v in deployment["spec"]["template"]["spec"]["volumes"]}
            continue
        assert env_of(container)["TAWA_WALLET_TOKEN_FILE"] == f"{WALLET_CREDENTIAL_DIR}/token"
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        assert volumes["wallet-credential"]["projected"]["sources"] == [{"serviceAccountToken": {
            "audience": "tawa-wallet", "expirationSeconds": 3600, "path": "token"}}]


def test_watch_namespaces_binds_per_namespace(helm: Path) -> None:
    docs = template(helm, "operator.watchNamespaces={a-prod,b-prod}")
    bindings = [d for d in docs if d["kind"] == "RoleBinding"]  # type: ignore[union-attr]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["a-prod", "b-prod"]
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "ClusterRoleBinding"  # type: ignore[union-attr]
            and d["roleRef"]["name"] == "tawa-operator"] == []
    args = find(docs, "Deployment", "tawa-operator")["spec"]["template"]["spec"]["containers"][0]["args"]  # type: ignore[arg-type]
    assert args[-4:] == ["--namespace", "a-prod", "--namespace", "b-prod"]
    # A Role of its own in each: no cluster-scoped object grants the operator workloads anywhere.
    roles = {d["metadata"]["namespace"]: d for d in docs if d["kind"] == "Role"}  # type: ignore[union-attr]
    assert sorted(roles) == ["a-prod", "b-prod"]
    assert all(b["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "tawa-operator"}
               for b in bindings)
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "ClusterRole"  # type: ignore[union-attr]
            and "tawa-operator" in d["metadata"]["name"]] == ["tawa-operator-discovery"]


def operator_rules(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for d in docs if d["kind"] == kind and d["metadata"]["name"] == "tawa-operator" for r in d["rules"]]


def test_cluster_wide_only_when_asked_with_the_same_rules(helm: Path, default_docs: list[dict[str, Any]]) -> None:
    docs = template(helm, *CLUSTER_WIDE)
    binding = find(docs, "ClusterRoleBinding", "tawa-operator")  # type: ignore[arg-type]
    assert binding["roleRef"]["kind"] == "ClusterRole"
    assert not [d for d in docs if d["kind"] in ("Role", "RoleBinding")]  # type: ignore[union-attr]
    assert operator_rules(docs, "ClusterRole") == operator_rules(default_docs, "Role")  # type: ignore[arg-type]
    args = find(docs, "Deployment", "tawa-operator")["spec"]["template"]["spec"]["containers"][0]["args"]  # type: ignore[arg-type]
    assert "--namespace" not in args
    # Serving named namespaces, kopf watches them come and go: their names only, cluster-wide.
    def discovery(rendered: Any) -> list[list[str]]:
        return [r["resources"] for r in find(rendered, "ClusterRole", "tawa-operator-discovery")["rules"]]

    assert discovery(default_docs) == [["customresourcedefinitions"], ["namespaces"]]
    assert discovery(docs) == [["customresourcedefinitions"]]


@pytest.mark.parametrize(("sets", "message"), [
    (["operator.watchNamespaces=null"], "operator.watchNamespaces: list the namespaces the operator serves"),
    (["operator.clusterWide=true"], "leave operator.watchNamespaces empty"),
    (["operator.watchNamespaces={billing-prod,tawa-system}"], "tawa-system holds Tawa's tokens"),
    (["operator.watchNamespaces={janus-prod}"], "janus-prod holds Tawa's tokens"),
    (["env=staging", "operator.watchNamespaces={janus-staging}"], "janus-staging holds Tawa's tokens"),
])
def test_the_operator_serves_named_namespaces_never_those_holding_tokens(helm: Path, sets: list[str],
                                                                         message: str) -> None:
    done = template(helm, *sets, check=False)
    assert done.returncode != 0 and message in done.stderr, done.stderr  # type: ignore[union-attr]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return selector["matchLabels"].items() <= labels.items()


def pod_labels(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, str]:
    labels: dict[str, str] = find(docs, kind, name)["spec"]["template"]["metadata"]["labels"]
    return labels


def test_wallet_network_policy_admits_the_operator_janus_and_the_console_to_the_api(
        default_docs: list[dict[str, Any]]) -> None:
    policy = find(default_docs, "NetworkPolicy", "tawa-wallet")
    spec = policy["spec"]
    assert policy["metadata"]["namespace"] == "tawa-system" and spec["policyTypes"] == ["Ingress"]
    assert selects(spec["podSelector"], pod_labels(default_docs, "Deployment", "tawa-wallet"))
    assert not selects(spec["podSelector"], pod_labels(default_docs, "Deployment", "tawa-operator"))
    [api] = [r for r in spec["ingress"] if r["ports"] == [{"port": "http", "protocol": "TCP"}]]
    operator, console, janus = api["from"]
    assert selects(operator["podSelector"], pod_labels(default_docs, "Deployment", "tawa-operator"))
    assert "namespaceSelector" not in operator  # the policy's own namespace, the operator's
    assert console["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "console"
    assert janus["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "janus-prod"}}
    assert selects(janus["podSelector"], pod_labels(default_docs, "StatefulSet", "janus"))
    # Both named ports are the wallet container's.
    [container] = find(default_docs, "Deployment", "tawa-wallet")["spec"]["template"]["spec"]["containers"]
    named = {p["ports"][0]["port"] for p in spec["ingress"]}
    assert named == {p["name"] for p in container["ports"]} == {"http", "metrics"}


def test_wallet_network_policy_values(helm: Path) -> None:
    cli = [{"ipBlock": {"cidr": "10.8.0.0/16"}}, {"namespaceSelector": {"matchLabels": {"team": "billing"}}}]
    docs = template(helm, "wallet.networkPolicy.allowedSources[0].ipBlock.cidr=10.8.0.0/16",
                    "wallet.networkPolicy.allowedSources[1].namespaceSelector.matchLabels.team=billing",
                    "monitoring.prometheusNamespace=")
    [rule] = find(docs, "NetworkPolicy", "tawa-wallet")["spec"]["ingress"]  # type: ignore[arg-type]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}] and rule["from"][3:] == cli
    assert not [d for d in template(helm, "wallet.networkPolicy.enabled=false")  # type: ignore[union-attr]
                if d["kind"] == "NetworkPolicy"]
    bad = template(helm, "wallet.networkPolicy.allowedSources[0].cidr=10.0.0.0/8", check=False)
    assert bad.returncode != 0 and "additional properties 'cidr' not allowed" in bad.stderr  # type: ignore[union-attr]


def test_janus_spool_is_a_claim_per_pod_by_default_and_an_emptydir_when_asked(
        helm: Path, default_docs: list[dict[str, Any]]) -> None:
    janus = find(default_docs, "StatefulSet", "janus")["spec"]
    [claim] = janus["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "spool" and claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert "storageClassName" not in claim["spec"]  # the cluster's default class
    # Claim templates are immutable: a label that changes with the chart version would block upgrades.
    assert not {"helm.sh/chart", "app.kubernetes.io/version"} & claim["metadata"]["labels"].keys()
    assert janus["serviceName"] == "janus"
    assert "spool" not in {v["name"] for v in janus["template"]["spec"]["volumes"]}

    static = find(template(helm, "janus.persistence.storageClass=-"), "StatefulSet", "janus")  # type: ignore[arg-type]
    assert static["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == ""

    docs = template(helm, "janus.persistence.enabled=false")
    assert not [d for d in docs if d["kind"] == "StatefulSet"]  # type: ignore[union-attr]
    pod = find(docs, "Deployment", "janus")["spec"]["template"]["spec"]  # type: ignore[arg-type]
    assert {"name": "spool", "emptyDir": {"sizeLimit": "1Gi"}} in pod["volumes"]


def pdbs(docs: list[dict[str, Any]]) -> set[str]:
    return {d["metadata"]["name"] for d in docs if d["kind"] == "PodDisruptionBudget"}


def test_janus_pdb_only_with_two_or_more_replicas(helm: Path) -> None:
    assert "janus" not in pdbs(template(helm, "janus.replicas=1"))  # type: ignore[arg-type]


def test_two_operator_replicas_by_default_rolled_one_at_a_time_and_spread(
        helm: Path, default_docs: list[dict[str, Any]]) -> None:
    """Active-active (docs/ha.md): a rollout or a drain never leaves no operator running."""
    operator = find(default_docs, "Deployment", "tawa-operator")["spec"]
    assert operator["replicas"] == 2
    assert operator["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    [spread] = operator["template"]["spec"]["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"]
    assert spread["podAffinityTerm"]["labelSelector"]["matchLabels"] == operator["selector"]["matchLabels"]
    pdb = find(default_docs, "PodDisruptionBudget", "tawa-operator")
    assert (pdb["metadata"]["namespace"], pdb["spec"]["maxUnavailable"]) == ("tawa-system", 1)
    assert pdb["spec"]["selector"] == operator["selector"]

    single = template(helm, "operator.replicas=1")
    assert find(single, "Deployment", "tawa-operator")["spec"]["replicas"] == 1  # type: ignore[arg-type]
    assert "tawa-operator" not in pdbs(single)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the programs accept it


PROGRAMS = {"tawa-operator": ("operator", "run"), "tawa-wallet": ("wallet", "serve"), "janus": ("janus", "serve"),
            "tawa-console": ("console", "serve")}


def known_env_names(program: str) -> set[str]:
    """Env names a program reads: its settings model's, plus literal TAWA_* names in its code."""
    source = ROOT / "operator" / "tawa"
    literal = set()
    dirs = {"operator": ["controller", "cli/operator.py", "catalog"], "wallet": ["wallet", "cli/wallet.py"],
            "janus": ["janus", "cli/janus.py", "wallet/client", "wallet/settings.py"],
            "console": ["console", "cli/console.py"]}[program]
    for part in dirs:
        paths = [source / part] if part.endswith(".py") else sorted((source / part).rglob("*.py"))
        for path in paths:
            literal |= set(re.findall(r"TAWA_[A-Z0-9_]+", path.read_text()))
    if program == "operator":
        from tawa.controller.settings import OperatorSettings

        literal |= {f"TAWA_{name.upper()}" for name in OperatorSettings.model_fields}
    if program == "janus":
        from tawa.janus.settings import JanusSettings

        literal |= {f"TAWA_JANUS_{name.upper()}" for name in JanusSettings.model_fields}
    if program == "console":
        from tawa.console.settings import ConsoleSettings

        literal |= {f"TAWA_CONSOLE_{name.upper()}" for name in ConsoleSettings.model_fields}
    return literal


@pytest.mark.parametrize("sets", [[], ["wallet.database.type=postgresql",
                                       "wallet.database.postgresql.existingSecret=db", "wallet.openReads=true",
                                       "janus.jwksUrl=https://keys.example/jwks",
                                       "operator.watchNamespaces={a-prod}", "janus.tokenReview=false"]])
def test_programs_accept_the_chart_commands_flags_and_env(helm: Path, sets: list[str]) -> None:
    from tawa.cli.main import cli

    docs = template(helm, *sets)
    for deployment, container in containers(docs):  # type: ignore[arg-type]
        program = PROGRAMS[deployment["metadata"]["name"]]
        args = container["args"]
        assert tuple(args[:2]) == program
        # Click parses every option before --help acts: an unknown flag fails here.
        result = CliRunner().invoke(cli, [*args, "--help"])
        assert result.exit_code == 0, (args, result.output)
        unknown = {n for n in env_of(container) if n.startswith("TAWA_")} - known_env_names(program[0])
        assert not unknown, f"{program[0]} reads no {sorted(unknown)}"


def test_operator_settings_parse_the_chart_env(default_docs: list[dict[str, Any]],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from tawa.controller.settings import OperatorSettings

    env = env_of(find(default_docs, "Deployment", "tawa-operator")["spec"]["template"]["spec"]["containers"][0])
    for name in [n for n in __import__("os").environ if n.startswith("TAWA_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        if isinstance(value, str):
            monkeypatch.setenv(name, value)
    settings = OperatorSettings()
    assert settings.platform_services == ("septor", "relay", "iec-wallet")
    assert settings.env == "prod" and settings.hosting_period == 3600 and settings.gate_retry_max == 60
    assert settings.suspend_after == 0  # the suspendAfter policy is off unless asked for
    assert settings.wallet_url == "http://tawa-wallet.tawa-system.svc.cluster.local:8081"


# --------------------------------------------------------------------------- Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text()
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_is_multi_stage_non_root_with_tawa_as_entrypoint() -> None:
    instructions = dockerfile_instructions()
    known = {"ARG", "FROM", "ENV", "WORKDIR", "RUN", "COPY", "LABEL", "USER", "EXPOSE", "ENTRYPOINT", "CMD"}
    assert {word for word, _ in instructions} <= known
    args = dict(rest.split("=", 1) for word, rest in instructions if word == "ARG")
    stages = [rest.replace("${PYTHON_IMAGE}", args["PYTHON_IMAGE"]) for word, rest in instructions if word == "FROM"]
    assert len(stages) >= 2 and all(s.startswith("python:3.11-slim") for s in stages)
    users = [rest for word, rest in instructions if word == "USER"]
    assert users and re.fullmatch(r"[1-9][0-9]*(:[1-9][0-9]*)?", users[-1]), "numeric non-root USER"
    uid = int(users[-1].split(":")[0])
    assert [json.loads(rest) for word, rest in instructions if word == "ENTRYPOINT"] == [["tawa"]]
    # The runtime stage copies the venv from the build stage, nothing from the context.
    runtime = instructions[max(i for i, (w, _) in enumerate(instructions) if w == "FROM"):]
    assert [rest for w, rest in runtime if w == "COPY"] == ["--from=build /opt/tawa /opt/tawa"]
    # The chart runs the image as the same user.
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == uid


def test_dockerfile_program_commands_exist_in_the_cli() -> None:
    from tawa.cli.main import cli

    text = (ROOT / "Dockerfile").read_text()
    runs = re.findall(r"docker run IMAGE (.+)", text)
    assert {tuple(r.split()[:2]) for r in runs} == set(PROGRAMS.values())
    for run in runs:
        result = CliRunner().invoke(cli, [*run.split(), "--help"])
        assert result.exit_code == 0, (run, result.output)


def test_dockerignore_sends_only_the_package() -> None:
    lines = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert lines[0] == "*"
    assert {"!pyproject.toml", "!README.md", "!operator/"} <= set(lines)


# --------------------------------------------------------------------------- monitoring


@pytest.fixture(scope="module")
def monitoring_docs(helm: Path) -> list[dict[str, Any]]:
    return template(helm, "monitoring.prometheusRule.enabled=true", "monitoring.serviceMonitor.enabled=true",
                    "monitoring.dashboard.enabled=true")  # type: ignore[return-value]


def exported_metric_names() -> set[str]:
    """Sample names the three programs can export (counters with _total, histograms with _bucket...)."""
    from prometheus_client import CollectorRegistry

    from tawa.janus.metrics import Metrics as JanusMetrics
    from tawa.wallet.metrics import Metrics as WalletMetrics

    names: set[str] = set()
    registries = [JanusMetrics().registry, WalletMetrics().registry]
    import prometheus_client

    import tawa.controller.handlers  # noqa: F401  (the operator's metrics live in the default registry)

    registries.append(prometheus_client.REGISTRY)
    for registry in registries:
        assert isinstance(registry, CollectorRegistry)
        for family in registry.collect():
            suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"],
                        "gauge": [""], "summary": ["_sum", "_count", ""]}.get(family.type, [""])
            names |= {family.name + s for s in suffixes}
    return names


PROMQL_NAME = re.compile(r"\b((?:tawa|janus|wallet)_[a-z0-9_]+)\b")


def test_alerts_cover_the_four_required_cases(monitoring_docs: list[dict[str, Any]]) -> None:
    rule = find(monitoring_docs, "PrometheusRule", "tawa")
    rules = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert {"TawaOrgRunwayLow", "TawaGasExhausted", "JanusFailOpenBurst", "TawaDeployGateClosed"} <= rules.keys()
    assert "< 720" in rules["TawaOrgRunwayLow"]["expr"]  # 30 days of hours
    assert rules["TawaDeployGateClosed"]["for"] == "1h"
    for name, r in rules.items():
        assert r["labels"]["severity"] in ("warning", "critical"), name
        assert r["annotations"]["summary"] and r["annotations"]["description"], name
        # Prometheus templates survive Helm's own templating.
        assert "{{" in r["annotations"]["summary"] + r["annotations"]["description"], name


def test_alerts_and_dashboard_use_metrics_the_programs_export(monitoring_docs: list[dict[str, Any]]) -> None:
    exported = exported_metric_names()
    rule = find(monitoring_docs, "PrometheusRule", "tawa")
    used = {n for g in rule["spec"]["groups"] for r in g["rules"] for n in PROMQL_NAME.findall(r["expr"])}
    dashboard = json.loads((CHART / "dashboards" / "tawa.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["query"]["query"] for v in dashboard["templating"]["list"] if isinstance(v.get("query"), dict)]
    used |= {n for e in exprs for n in PROMQL_NAME.findall(e)}
    assert used, "no metric found"
    missing = sorted(used - exported)
    assert not missing, f"not exported by any program: {missing}"


# Every operator replica exports these for every Component it sees: a query must fold the
# replicas into one series per Component, or two replicas double every count and sum.
PER_COMPONENT_GAUGES = ("tawa_component_gate_open", "tawa_component_gas_exhausted", "tawa_hosting_unpaid_tokens")


def test_alerts_and_dashboard_count_each_component_once_whatever_the_operator_replicas(
        monitoring_docs: list[dict[str, Any]]) -> None:
    rule = find(monitoring_docs, "PrometheusRule", "tawa")
    dashboard = json.loads((CHART / "dashboards" / "tawa.json").read_text())
    exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
    exprs += [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    checked = [e for e in exprs if any(g in e for g in PER_COMPONENT_GAUGES)]
    assert len(checked) >= 8, checked
    for expr in checked:
        assert re.search(r"(max|min) by \(namespace, component, org\) \(tawa_", expr), (
            f"{expr!r}: wrap the gauge in max by (namespace, component, org) (...)")


def test_dashboard_configmap_carries_the_dashboard_file(monitoring_docs: list[dict[str, Any]]) -> None:
    cm = find(monitoring_docs, "ConfigMap", "tawa-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["tawa.json"]) == json.loads((CHART / "dashboards" / "tawa.json").read_text())
    dashboard = json.loads(cm["data"]["tawa.json"])
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and dashboard["uid"] == "tawa-gas"


def test_the_wallet_monitor_scrapes_the_metrics_port_with_no_token(monitoring_docs: list[dict[str, Any]]) -> None:
    """The wallet's /metrics shows revenue: it is served without a token only on its metrics port,
    which its NetworkPolicy opens to Prometheus's namespace alone. Prometheus holds no wallet token."""
    monitors = {d["metadata"]["name"]: d for d in monitoring_docs if d["kind"] == "ServiceMonitor"}
    [endpoint] = monitors["tawa-wallet"]["spec"]["endpoints"]
    assert endpoint["port"] == "metrics" and "authorization" not in endpoint
    assert not [m for m in monitors.values() for e in m["spec"]["endpoints"] if "authorization" in e]
    [container] = find(monitoring_docs, "Deployment", "tawa-wallet")["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[args.index("--metrics-port") + 1] == "9090"
    assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in container["ports"]
    service = find(monitoring_docs, "Service", "tawa-wallet")
    assert {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"} in service["spec"]["ports"]
    policy = find(monitoring_docs, "NetworkPolicy", "tawa-wallet")
    [metrics_rule] = [r for r in policy["spec"]["ingress"] if r["ports"][0]["port"] == "metrics"]
    assert metrics_rule["from"] == [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "monitoring"}}}]


def test_service_monitors_keep_the_operators_namespace_label(monitoring_docs: list[dict[str, Any]]) -> None:
    monitors = {d["metadata"]["name"]: d for d in monitoring_docs if d["kind"] == "ServiceMonitor"}
    assert monitors["tawa-operator"]["spec"]["endpoints"][0]["honorLabels"] is True
    assert monitors["tawa-janus"]["metadata"]["namespace"] == "janus-prod"
    services = {(d["metadata"]["namespace"], d["metadata"]["name"]): d
                for d in monitoring_docs if d["kind"] == "Service"}
    for monitor in monitors.values():
        ns, wanted = monitor["metadata"]["namespace"], monitor["spec"]["selector"]["matchLabels"].items()
        selected = [s for (n, _), s in services.items() if n == ns and wanted <= s["metadata"]["labels"].items()]
        assert len(selected) == 1, monitor["metadata"]["name"]
        ports = {p["name"] for p in selected[0]["spec"]["ports"]}
        assert monitor["spec"]["endpoints"][0]["port"] in ports
