"""`make bench-operator`: 1,000 Components across 50 orgs on the local control plane.

Measures, in one run:
- seconds_to_all_deployments: from the first apply until every Deployment exists;
- operator_rss_mb: the operator process's peak resident memory (VmHWM);
- hosting_tick_seconds: from a bucket's start until the wallet holds that bucket's
  hosting charge for every Component (all pods Ready);
- apiserver_requests: requests the operator made, counted from the apiserver's
  audit log (the operator runs as its own audited user);
- direct_seconds: the physical reference, in the same run on the same control plane:
  a plain client creating the same Deployments (the operator's own, copied into
  namespaces of their own) with as many requests in flight as the operator has
  worker threads; vs_direct = seconds_to_all_deployments / direct_seconds (goal
  ≤ 1.5: absolute seconds move 45-120 from machine to machine, the ratio does not).
  It runs after the operator's figures, with the operator stopped.

Goals (issue 7): ≤ 60 s, ≤ 200 MB, ≤ 10 s. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kubernetes import client, config

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.report import record  # noqa: E402
from tawa.controller.hosting import bucket_id, bucket_start  # noqa: E402
from tawa.controller.kubeapi import WORKER_THREADS  # noqa: E402
from tawa.devcluster.cluster import install_crds, start_control_plane  # noqa: E402
from tawa.devcluster.processes import Process, free_port, wait_until  # noqa: E402
from tests.fixtures.wallet import start_wallet_server  # noqa: E402

OPERATOR_USER = "tawa-operator"
LABEL = "app.kubernetes.io/managed-by=tawa-operator"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def manifest(i: int, orgs: int) -> dict:
    org = f"org-{i % orgs:02d}"
    return {"apiVersion": "tawa.insureco.io/v1", "kind": "Component",
            "metadata": {"name": f"svc-{i:04d}", "namespace": org, "annotations": {"insureco.io/pod-tier": "nano"}},
            "spec": {"owner": org, "image": "registry.local/bench:1",
                     "internalDependencies": [{"service": f"svc-{(i + 1) % 1000:04d}"}]}}


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def count_deployments(apps: client.AppsV1Api) -> int:
    return len(apps.list_deployment_for_all_namespaces(label_selector=LABEL).items)


def count_ready(custom: client.CustomObjectsApi) -> int:
    items = custom.list_cluster_custom_object("tawa.insureco.io", "v1", "components")["items"]
    return sum(1 for c in items if (c.get("status") or {}).get("readyReplicas") == 1)


def hosting_charges(db: Path, bucket: str) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT count(*) FROM gas_events WHERE kind = 'hosting' "
                            "AND json_extract(details, '$.hour') = ?", (bucket,)).fetchone()[0]


def audited_requests(plane_log: Path) -> int:
    if not plane_log.exists():
        return 0
    return sum(1 for line in plane_log.read_text().splitlines() if f'"username":"{OPERATOR_USER}"' in line)


def direct_copy(deployment: dict) -> dict:
    """The operator's Deployment as a plain client would create it: same spec, labels
    it does not manage (the operator ignores it), no owner in another namespace."""
    labels = {**deployment["metadata"].get("labels", {}), "app.kubernetes.io/managed-by": "bench-direct"}
    template = deployment["spec"]["template"]
    template["metadata"]["labels"] = {**template["metadata"].get("labels", {}), **labels}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": deployment["metadata"]["name"], "labels": labels},
            "spec": {**deployment["spec"], "template": template}}


def direct_seconds(api: client.ApiClient, orgs: int, in_flight: int) -> float:
    """Seconds a plain client takes to create the operator's Deployments again."""
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    made = api.sanitize_for_serialization(apps.list_deployment_for_all_namespaces(label_selector=LABEL).items)
    for n in range(orgs):
        core.create_namespace({"metadata": {"name": f"direct-{n:02d}"}})
    work = [(f"direct-{d['metadata']['namespace'].removeprefix('org-')}", direct_copy(d)) for d in made]
    started = time.monotonic()
    with ThreadPoolExecutor(in_flight) as pool:
        list(pool.map(lambda item: apps.create_namespaced_deployment(*item), work))
    return time.monotonic() - started


def run(components: int, orgs: int, period: float, work: Path) -> dict:
    log("starting the control plane")
    plane = start_control_plane(work / "cp", audited_users=(OPERATOR_USER,))
    wallet = operator = None
    try:
        api = config.new_client_from_config(config_file=str(plane.kubeconfig))
        install_crds(api)
        core, apps, custom = client.CoreV1Api(api), client.AppsV1Api(api), client.CustomObjectsApi(api)
        wallet = start_wallet_server(work)
        for n in range(orgs):
            wallet.client.create_wallet(f"org-{n:02d}")
            core.create_namespace({"metadata": {"name": f"org-{n:02d}"}})
        liveness = free_port()
        operator = Process("operator", [sys.executable, "-m", "tawa.cli.main", "operator", "run", "--liveness",
                                        f"http://127.0.0.1:{liveness}/healthz"], work / "operator.log", env={
            "KUBECONFIG": str(plane.kubeconfig_for(OPERATOR_USER)), "TAWA_WALLET_URL": wallet.url,
            "TAWA_WALLET_TOKEN": wallet.token, "TAWA_HOSTING_PERIOD": str(period), "PATH": "/usr/bin:/bin"}).start()
        import urllib.request
        wait_until(lambda: urllib.request.urlopen(f"http://127.0.0.1:{liveness}/healthz", timeout=2).status == 200,
                   "the operator", 60, operator)

        log(f"applying {components} Components across {orgs} orgs")
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: custom.create_namespaced_custom_object(
                "tawa.insureco.io", "v1", f"org-{i % orgs:02d}", "components", manifest(i, orgs)), range(components)))
        applied = time.monotonic() - started
        wait_until(lambda: count_deployments(apps) >= components, "every Deployment", 600, operator)
        to_deployments = time.monotonic() - started
        log(f"all {components} Deployments after {to_deployments:.1f}s (applies took {applied:.1f}s); "
            f"operator peak RSS so far {peak_rss_mb(operator.pid)} MB")
        requests_to_converge = audited_requests(plane.audit_log())

        wait_until(lambda: count_ready(custom) >= components, "every Component Ready", 900, operator)
        log(f"all pods Ready (operator peak RSS so far {peak_rss_mb(operator.pid)} MB); waiting for the next "
            "hosting bucket")
        now = time.time()
        boundary = bucket_start(now, period) + period
        if boundary - now < 1:
            boundary += period
        time.sleep(boundary - time.time())
        bucket = bucket_id(boundary)
        wait_until(lambda: hosting_charges(Path(wallet.database_url.removeprefix("sqlite:///")), bucket)
                   >= components, f"bucket {bucket} charged for all", 300, operator)
        tick = time.time() - boundary
        log(f"bucket {bucket} charged for all {components} Components {tick:.1f}s after it began")
        rss = peak_rss_mb(operator.pid)
        operator.stop()
        direct = direct_seconds(api, orgs, WORKER_THREADS)
        log(f"a plain client created the same {components} Deployments in {direct:.1f}s")
        return {"direct_seconds": round(direct, 1), "vs_direct": round(to_deployments / direct, 2),
                "components": components, "orgs": orgs, "seconds_to_all_deployments": round(to_deployments, 1),
                "operator_rss_mb": rss, "hosting_tick_seconds": round(tick, 1),
                "apiserver_requests": requests_to_converge,
                "apiserver_requests_per_component": round(requests_to_converge / components, 1),
                "hosting_period_s": period}
    finally:
        if operator:
            operator.stop()
        if wallet:
            wallet.close()
        plane.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--components", type=int, default=1000)
    parser.add_argument("--orgs", type=int, default=50)
    parser.add_argument("--hosting-period", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tawa-bench-operator-") as tmp:
        figures = run(args.components, args.orgs, args.hosting_period, Path(tmp))
    figures["goals_met"] = (figures["seconds_to_all_deployments"] <= 60 and figures["operator_rss_mb"] <= 200
                            and figures["hosting_tick_seconds"] <= 10 and figures["vs_direct"] <= 1.5)
    record("operator", figures)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
