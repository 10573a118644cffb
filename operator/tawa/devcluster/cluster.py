"""A local Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok (fake nodes, so Deployments get Running pods).

Used by `tawa dev up` and the test fixtures. `KUBEBUILDER_ASSETS` (envtest's
etcd + kube-apiserver) is honoured for the binaries; with it there are no
controllers, so pods never appear.
"""

from __future__ import annotations

import base64
import os
import secrets
import ssl
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tawa.devcluster.build import KWOK_STAGES, ensure_control_plane
from tawa.devcluster.processes import Process, free_port, wait_until

FAKE_NODE = "kwok-node-0"


@dataclass
class ControlPlane:
    workdir: Path
    kubeconfig: Path
    server: str
    token: str
    processes: list[Process] = field(default_factory=list)

    def process(self, name: str) -> Process:
        return next(p for p in self.processes if p.name == name)

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()

    def logs(self) -> Path:
        return self.workdir / "logs"

    def kubeconfig_for(self, user: str) -> Path:
        """A kubeconfig of another (cluster-admin) user named at start-up, so its
        requests can be told apart, e.g. in the audit log."""
        return self.workdir / f"kubeconfig-{user}"

    def audit_log(self) -> Path:
        return self.workdir / "logs" / "audit.log"


def _write_service_account_key(path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def _kubeconfig(server: str, token: str, ca_cert: Path) -> dict[str, object]:
    ca_data = base64.b64encode(ca_cert.read_bytes()).decode()
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "tawa-dev",
        "clusters": [{"name": "tawa-dev", "cluster": {"server": server, "certificate-authority-data": ca_data}}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "tawa-dev", "context": {"cluster": "tawa-dev", "user": "admin"}}],
    }


def _get(url: str, token: str | None = None, ca_cert: Path | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    context = ssl.create_default_context(cafile=str(ca_cert)) if ca_cert else None
    with urllib.request.urlopen(request, timeout=2, context=context) as response:
        return int(response.status)


def _binaries() -> Path:
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    return Path(assets) if assets else ensure_control_plane()


def _audit_flags(work: Path, users: tuple[str, ...]) -> list[str]:
    """Log every request of the named users (metadata only), nothing of anyone else."""
    if not users:
        return []
    policy = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
              "rules": [{"level": "Metadata", "users": list(users)}, {"level": "None"}]}
    (work / "audit-policy.yaml").write_text(yaml.safe_dump(policy))
    return [f"--audit-policy-file={work / 'audit-policy.yaml'}", f"--audit-log-path={work / 'logs' / 'audit.log'}",
            "--audit-log-mode=batch"]


def _apiserver_argv(bins: Path, work: Path, etcd_url: str, port: int, sa_key: Path,
                    audited: tuple[str, ...] = ()) -> list[str]:
    return [
        str(bins / "kube-apiserver"), *_audit_flags(work, audited),
        f"--etcd-servers={etcd_url}", f"--secure-port={port}", "--bind-address=127.0.0.1",
        f"--cert-dir={work / 'pki'}", f"--token-auth-file={work / 'tokens.csv'}",
        "--authorization-mode=Node,RBAC", "--service-cluster-ip-range=10.96.0.0/16",
        f"--service-account-key-file={sa_key}", f"--service-account-signing-key-file={sa_key}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--api-audiences=https://kubernetes.default.svc.cluster.local,janus",
        "--allow-privileged=true", "--profiling=false", "--endpoint-reconciler-type=none",
    ]


def _component_argv(bins: Path, name: str, kubeconfig: Path, port: int, extra: list[str]) -> list[str]:
    return [
        str(bins / name), f"--kubeconfig={kubeconfig}", "--leader-elect=false",
        f"--authentication-kubeconfig={kubeconfig}", f"--authorization-kubeconfig={kubeconfig}",
        f"--secure-port={port}", "--bind-address=127.0.0.1", *extra,
    ]


def _fake_node() -> dict[str, object]:
    capacity = {"cpu": "64", "memory": "512Gi", "pods": "2000"}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": FAKE_NODE,
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
                     "labels": {"type": "kwok", "kubernetes.io/hostname": FAKE_NODE, "kubernetes.io/os": "linux"}},
        "status": {"allocatable": capacity, "capacity": capacity},
    }


def start_control_plane(workdir: Path, *, with_nodes: bool = True, timeout: float = 120.0,
                        audited_users: tuple[str, ...] = (), detached: bool = False) -> ControlPlane:
    """Start every component under `workdir`, waiting until each is ready.

    `audited_users` get kubeconfigs of their own (`kubeconfig_for`) and every
    request they make is written to the audit log. `detached` processes outlive
    this one (for `tawa dev up --detach`); otherwise they die with it.
    """
    bins = _binaries()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "logs").mkdir(exist_ok=True)
    logs = workdir / "logs"
    token = secrets.token_hex(16)
    user_tokens = {user: secrets.token_hex(16) for user in audited_users}
    (workdir / "tokens.csv").write_text(f'{token},admin,admin-uid,"system:masters"\n' + "".join(
        f'{t},{user},{user}-uid,"system:masters"\n' for user, t in user_tokens.items()))
    sa_key = workdir / "sa.key"
    _write_service_account_key(sa_key)

    etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
    etcd_url = f"http://127.0.0.1:{etcd_port}"
    server = f"https://127.0.0.1:{api_port}"
    kubeconfig = workdir / "kubeconfig"
    plane = ControlPlane(workdir, kubeconfig, server, token)
    try:
        etcd = Process("etcd", die_with_parent=not detached, argv=[
            str(bins / "etcd"), f"--data-dir={workdir / 'etcd'}", f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}", f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            "--unsafe-no-fsync", "--log-level=warn",
        ], log=logs / "etcd.log").start()
        plane.processes.append(etcd)
        wait_until(lambda: _get(f"{etcd_url}/health") == 200, "etcd", timeout, etcd)

        apiserver = Process("kube-apiserver", _apiserver_argv(bins, workdir, etcd_url, api_port, sa_key,
                                                              audited_users), logs / "kube-apiserver.log",
                            die_with_parent=not detached).start()
        plane.processes.append(apiserver)
        # The apiserver made itself a self-signed serving certificate: trust exactly that.
        ca_cert = workdir / "pki" / "apiserver.crt"
        wait_until(ca_cert.exists, "kube-apiserver's serving certificate", timeout, apiserver)
        wait_until(lambda: _get(f"{server}/readyz", token, ca_cert) == 200, "kube-apiserver /readyz",
                   timeout, apiserver)
        for user, user_token in {"": token, **user_tokens}.items():
            path = plane.kubeconfig_for(user) if user else kubeconfig
            path.write_text(yaml.safe_dump(_kubeconfig(server, user_token, ca_cert)))
            path.chmod(0o600)
        if with_nodes and (bins / "kube-controller-manager").exists():
            _start_controllers(plane, bins, sa_key, timeout, detached)
    except BaseException:
        plane.stop()
        raise
    return plane


def _start_controllers(plane: ControlPlane, bins: Path, sa_key: Path, timeout: float, detached: bool) -> None:
    logs, kubeconfig = plane.logs(), plane.kubeconfig
    plane.processes.append(Process("kube-controller-manager", _component_argv(
        bins, "kube-controller-manager", kubeconfig, free_port(),
        [f"--service-account-private-key-file={sa_key}", "--use-service-account-credentials=false",
         "--controllers=*,-node-ipam-controller,-node-lifecycle-controller"],
    ), logs / "kube-controller-manager.log", die_with_parent=not detached).start())
    plane.processes.append(Process("kube-scheduler", _component_argv(
        bins, "kube-scheduler", kubeconfig, free_port(), []), logs / "kube-scheduler.log",
        die_with_parent=not detached).start())
    plane.processes.append(Process("kwok", [
        str(bins / "kwok"), f"--kubeconfig={kubeconfig}", f"--config={bins / KWOK_STAGES}",
        "--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        f"--server-address=127.0.0.1:{free_port()}", "--cidr=10.244.0.1/16", "--node-ip=10.244.0.1",
    ], logs / "kwok.log", die_with_parent=not detached).start())
    from kubernetes import client

    from tawa.kube import api_client

    api = api_client(str(kubeconfig))
    client.CoreV1Api(api).create_node(_fake_node())
    core = client.CoreV1Api(api)
    manager = plane.process("kube-controller-manager")
    wait_until(lambda: bool(core.read_namespaced_service_account("default", "default")),
               "kube-controller-manager (the default ServiceAccount)", timeout, manager)
    wait_until(lambda: _node_ready(core), "kwok to mark the fake node Ready", timeout, plane.process("kwok"))
    # Admission tainted the node not-ready at creation; the node-lifecycle controller,
    # which would lift it, is off (kwok's fake node sends no heartbeats).
    core.patch_node(FAKE_NODE, {"spec": {"taints": []}})


def _node_ready(core: object) -> bool:
    node = core.read_node(FAKE_NODE)  # type: ignore[attr-defined]
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])


def install_crds(api: object) -> None:
    """Create or update the Component CRD and wait until it is served."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    from tawa.catalog.crd import component_crd

    ext = client.ApiextensionsV1Api(api)
    crd = component_crd()
    name = crd["metadata"]["name"]
    try:
        ext.create_custom_resource_definition(crd)
    except ApiException as exc:
        if exc.status != 409:
            raise
        ext.patch_custom_resource_definition(name, crd, field_manager="tawa", force=True,
                                             _content_type="application/apply-patch+yaml")

    def established() -> bool:
        conditions = ext.read_custom_resource_definition(name).status.conditions or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    wait_until(established, "the Component CRD to be established", 30)
