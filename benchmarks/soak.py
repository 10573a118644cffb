"""A bounded soak with crashes: everything at once, kill -9 at random, then audit.

    .venv/bin/python benchmarks/soak.py                 # 300 s of chaos (make soak)
    .venv/bin/python benchmarks/soak.py --seconds 45    # the short CI form (~80 s in all)

On a local control plane (etcd, kube-apiserver, controllers, kwok; or
`--kubeconfig` of an existing cluster) it runs a real wallet (SQLite), a real
Janus (file registry, in front of a recording upstream) and the real operator
(hosting "hours" of `--hosting-period` seconds), and for `--seconds`:

- deploys Components and changes their tier, replicas and image, and buys
  tokens for an org whose medium-tier Component the deploy gate holds back;
- sends metered calls through Janus (answers 2xx and non-2xx, and free routes);
- kill -9s the operator, Janus or the wallet at random moments (seeded by
  `--seed`) and restarts each after a random outage.

Then it brings everything back, lets Janus drain its spool, waits out the hold
TTL and checks, printing each:

1. integrity — the wallet's own audit: every transaction's entries sum to zero,
   balances equal their entries, holds add up; all accounts sum to zero;
2. no idempotency key applied twice — one ledger transaction per settlement
   request id, per (component, hosting bucket), per purchase key;
3. calls — every call the upstream saw and answered 2xx whose answer reached the
   caller is charged exactly once (matched by X-Request-ID), every non-2xx and
   every free call never, no charge without a call; calls cut off by a Janus
   crash before the caller got the answer are counted as in doubt (charged at
   most once);
4. holds — none open past its TTL;
5. Components — each converged to what its spec and its org's wallet imply
   (gate open: Deployment with the spec's image, tier and replicas, all Ready;
   gate closed: `DeployGate=False` and an earlier version left running);
6. hosting — every bucket of every running Component charged at most once,
   rate × pods, with no gap, up to the bucket the operator stopped in.

Its last line is one JSON object with the figures and `"ok": true|false`; the
exit code is 1 when a check fails. The figures also go to benchmarks/README.md
(benchmarks/report.py) unless TAWA_BENCH_NO_RECORD is set.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "operator"))

import httpx
from kubernetes import config as kube_config

from benchmarks.report import record
from tawa.controller.hosting import bucket_id, bucket_start, parse_bucket_id
from tawa.devcluster.cluster import install_crds, start_control_plane
from tawa.devcluster.processes import Process, free_port
from tawa.gas.tiers import TIERS
from tawa.wallet.client import WalletClient
from tests.fixtures.cluster import KubeCluster, component_manifest, operator_env
from tests.fixtures.janus import (
    TEST_ENV,
    JanusProcess,
    RecordingUpstream,
    component_doc,
    service_token,
    start_janus,
)
from tests.fixtures.wallet import WalletServer, start_wallet_server

CALLER, PROVIDER = "soak-caller", "soak-provider"
SERVICE = "meter"
ROUTES = [
    {"path": "/documents", "methods": ["GET", "POST"], "auth": "service", "gas": 5},
    {"path": "/free", "methods": ["GET"], "auth": "service", "gas": 0},
]
PRICE = {"/documents": 5, "/free": 0}
# Orgs owning Components: two live on their 50,000 intro tokens (nano and small pass
# the gate, medium's 50,370 reserve never does); the third buys tokens mid-soak,
# which opens the gate for medium.
OWNERS = ("soak-a", "soak-b", "soak-buyer")
TIER_CHOICES = ("nano", "small", "medium")
HOLD_TTL = 10  # seconds; Janus's minimum with TEST_ENV's timeouts is ~9.5
SWEEP = 1.0  # the wallet's hold sweep, seconds


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def retry(what: str, call: Callable[[], Any], timeout: float = 60.0, interval: float = 0.3) -> Any:
    """Call until it stops raising (the services restart under us)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except Exception as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: still failing after {timeout:.0f}s: {exc!r}") from exc
            time.sleep(interval)


# --------------------------------------------------------------------------- the stack


@dataclass
class Stack:
    workdir: Path
    kube: KubeCluster
    wallet: WalletServer
    upstream: RecordingUpstream
    janus: JanusProcess
    operator_env: dict[str, str]
    namespaces: list[str]
    hosting_period: float
    plane: Any = None
    operators: list[Process] = field(default_factory=list)  # started on the main thread only
    verbose: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    # ----- the operator (namespaced to the soak's namespaces, so an existing cluster's other tenants are left alone)

    def start_operator(self) -> Process:
        n = len(self.operators)
        argv = [sys.executable, "-m", "tawa.cli.main", "operator", "run",
                "--liveness", f"http://127.0.0.1:{free_port()}/healthz"]
        for ns in self.namespaces:
            argv += ["--namespace", ns]
        if self.verbose:
            argv.append("--verbose")
        proc = Process(f"operator-{n}", argv, self.workdir / "logs" / f"operator-{n}.log", env=self.operator_env)
        self.operators.append(proc.start())
        return proc

    @property
    def operator(self) -> Process:
        return self.operators[-1]

    # ----- kill -9 and restart, by name

    def alive(self, name: str) -> bool:
        proc: Any = {"operator": self.operator, "wallet": self.wallet.proc, "janus": self.janus.proc}[name]
        if proc is None:
            return False
        return bool(proc.alive()) if hasattr(proc, "alive") else proc.poll() is None

    def kill(self, name: str) -> None:
        with self.lock:
            if name == "operator":
                self.operator.kill()
            elif name == "wallet":
                self.wallet.kill()
            else:
                self.janus.kill()

    def start(self, name: str) -> None:
        with self.lock:
            if self.alive(name):
                return
            if name == "operator":
                self.start_operator()
            elif name == "wallet":
                self.wallet.start()
            else:
                self.janus.start()

    def janus_spool_pending(self) -> int:
        path = self.janus.directory / "data" / "janus-spool.db"
        if not path.exists():
            return 0
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
            return int(db.execute("SELECT count(*) FROM usage WHERE state='pending'").fetchone()[0])

    def janus_journal_left(self) -> int:
        """Charges answered but not settled nor spooled: a graceful stop must leave none."""
        total = 0
        for path in (self.janus.directory / "data").glob("janus-journal-*.db"):
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
                total += int(db.execute("SELECT count(*) FROM charges").fetchone()[0])
        return total

    def janus_spool_rejected(self) -> list[tuple[str, str]]:
        path = self.janus.directory / "data" / "janus-spool.db"
        if not path.exists():
            return []
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
            return list(db.execute("SELECT key, last_error FROM usage WHERE state='rejected'"))

    def close(self) -> None:
        for proc in self.operators:
            proc.stop(timeout=5)
        self.janus.kill()
        self.upstream.stop()
        self.wallet.close()
        if self.plane is not None:
            self.plane.stop()
        else:
            for ns in self.namespaces:
                try:
                    self.kube.core.delete_namespace(ns)
                except Exception as exc:  # noqa: BLE001 — best effort on a shared cluster
                    log(f"namespace {ns} not deleted: {exc!r}")


def start_stack(workdir: Path, kubeconfig: str | None, hosting_period: float, run_id: str,
                verbose: bool = False) -> Stack:
    plane = None
    if kubeconfig is None:
        log("starting the local control plane")
        plane = start_control_plane(workdir / "controlplane")
        kubeconfig = str(plane.kubeconfig)
    api = kube_config.new_client_from_config(config_file=kubeconfig)
    install_crds(api)
    kube = KubeCluster(Path(kubeconfig), api, plane)
    namespaces = [kube.create_namespace(f"{owner}-{run_id}") for owner in OWNERS]
    wallet = start_wallet_server(workdir, env={"TAWA_WALLET_SWEEP_SECONDS": str(SWEEP)})
    upstream = RecordingUpstream().start()
    docs = [component_doc(SERVICE, PROVIDER, upstream.url, ROUTES, namespace=f"{SERVICE}-prod")]
    janus = start_janus(workdir / "janus", wallet.url, wallet.token, docs,
                        {**TEST_ENV, "TAWA_JANUS_HOLD_TTL": str(HOLD_TTL), "TAWA_JANUS_HOLD_IDLE": "3"})
    env = operator_env(kube, wallet.url, wallet.token, TAWA_HOSTING_PERIOD=str(hosting_period), PYTHONFAULTHANDLER="1",
                       TAWA_GATE_RETRY_MAX="2")
    stack = Stack(workdir, kube, wallet, upstream, janus, env, namespaces, hosting_period, plane, verbose=verbose)
    stack.start_operator()
    return stack


# --------------------------------------------------------------------------- the load


@dataclass
class Call:
    marker: str
    route: str
    status_asked: int
    status: int | None = None  # what the caller got; None: no answer (connection cut)
    request_id: str | None = None


class Traffic:
    """Metered and free calls through Janus from a few threads, each call written down."""

    def __init__(self, stack: Stack, threads: int, pause: float, rng: random.Random) -> None:
        self.stack, self.threads, self.pause = stack, threads, pause
        self.seeds = [rng.random() for _ in range(threads)]
        self.calls: list[Call] = []
        self.stop_event = threading.Event()
        self.workers: list[threading.Thread] = []

    def _run(self, seed: float) -> None:
        rng = random.Random(seed)
        headers = {"Authorization": f"Bearer {service_token(CALLER, 'quoter', ttl=3600)}"}
        statuses = [200] * 6 + [201, 204, 404, 500, 503]
        with httpx.Client(timeout=10) as client:
            while not self.stop_event.is_set():
                route = "/free" if rng.random() < 0.1 else "/documents"
                call = Call(uuid.uuid4().hex, route, rng.choice(statuses))
                self.calls.append(call)
                try:
                    r = client.get(self.stack.janus.proxy(SERVICE, route),
                                   params={"status": call.status_asked, "m": call.marker}, headers=headers)
                    call.status, call.request_id = r.status_code, r.headers.get("x-request-id")
                except httpx.HTTPError:
                    time.sleep(0.1)  # Janus is down: its restart is coming
                time.sleep(self.pause)

    def start(self) -> Traffic:
        self.workers = [threading.Thread(target=self._run, args=(s,), daemon=True) for s in self.seeds]
        for t in self.workers:
            t.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.workers:
            t.join(30)


@dataclass
class Comp:
    name: str
    namespace: str
    owner: str
    tier: str = "nano"
    replicas: int = 1
    image: int = 1
    history: list[tuple[str, str, int]] = field(default_factory=list)  # (image, tier, replicas) applied

    def manifest(self) -> dict[str, Any]:
        return component_manifest(self.name, self.namespace, self.owner, tier=self.tier,
                                  image=self.image_ref, replicas=self.replicas)

    @property
    def image_ref(self) -> str:
        return f"registry.local/{self.name}:{self.image}"

    @property
    def rollout(self) -> tuple[str, str, int]:
        return (self.image_ref, self.tier, self.replicas)


class Churn:
    """Deploys, tier/replica/image changes and a purchase, while everything else runs."""

    def __init__(self, stack: Stack, rng: random.Random, components: int, pause: float) -> None:
        self.stack, self.rng, self.target, self.pause = stack, rng, components, pause
        self.comps: list[Comp] = []
        self.counts: Counter[str] = Counter()
        self.purchases: dict[str, tuple[str, int]] = {}  # key → (org, tokens), each applied once
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.errors: list[str] = []

    def apply(self, comp: Comp) -> None:
        comp.history.append(comp.rollout)
        retry(f"apply {comp.namespace}/{comp.name}", lambda: self.stack.kube.apply_component(comp.manifest()))

    def deploy(self) -> None:
        owner_index = len(self.comps) % len(OWNERS)
        comp = Comp(f"svc{len(self.comps)}", self.stack.namespaces[owner_index], OWNERS[owner_index])
        self.comps.append(comp)
        self.apply(comp)
        self.counts["deploys"] += 1

    def buy(self, org: str, tokens: int) -> None:
        key = f"soak-purchase/{uuid.uuid4().hex}"
        self.purchases[key] = (org, tokens)
        with WalletClient(self.stack.wallet.url, self.stack.wallet.token, timeout=5) as client:
            retry(f"purchase for {org}", lambda: client.purchase(org, tokens, idempotency_key=key))
        self.counts["purchases"] += 1

    def step(self) -> None:
        if len(self.comps) < self.target:
            self.deploy()
            return
        comp = self.rng.choice(self.comps)
        what = self.rng.choice(["tier", "tier", "replicas", "image"])
        if what == "tier":
            comp.tier = self.rng.choice([t for t in TIER_CHOICES if t != comp.tier])
            self.counts["tier_changes"] += 1
        elif what == "replicas":
            comp.replicas = 3 - comp.replicas  # 1 ↔ 2
            self.counts["replica_changes"] += 1
        else:
            comp.image += 1
            self.counts["image_changes"] += 1
        self.apply(comp)

    def _run(self) -> None:
        bought = False
        started = time.monotonic()
        while not self.stop_event.wait(self.pause * (0.5 + self.rng.random())):
            try:
                if not bought and time.monotonic() - started > 10:
                    self.buy("soak-buyer", 20_000)  # the buyer's medium Components pass the gate from now on
                    bought = True
                self.step()
            except Exception as exc:  # noqa: BLE001 — recorded and reported, the soak goes on
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def start(self) -> Churn:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(120)


class Chaos:
    """kill -9 one of operator, Janus, wallet at a random moment; restart it after a random outage."""

    TARGETS = ("operator", "janus", "wallet")

    def __init__(self, stack: Stack, rng: random.Random, every: tuple[float, float], outage: tuple[float, float]):
        self.stack, self.rng, self.every, self.outage = stack, rng, every, outage
        self.kills: Counter[str] = Counter()
        self.timeline: list[tuple[float, str, str]] = []
        self.errors: list[str] = []

    def _targets(self) -> Iterator[str]:
        """Every target once per round, in a random order: even a short run crashes all three."""
        while True:
            yield from self.rng.sample(self.TARGETS, len(self.TARGETS))

    def run_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        targets = self._targets()
        while True:
            pause = self.rng.uniform(*self.every)
            if time.monotonic() + pause >= deadline:
                time.sleep(max(0.0, deadline - time.monotonic()))
                return
            time.sleep(pause)
            target = next(targets)
            try:
                self.stack.kill(target)
                self.kills[target] += 1
                self.timeline.append((time.time(), "kill", target))
                log(f"kill -9 {target}")
                time.sleep(min(self.rng.uniform(*self.outage), max(0.0, deadline - time.monotonic())))
                self.stack.start(target)
                self.timeline.append((time.time(), "start", target))
            except Exception as exc:  # noqa: BLE001
                self.errors.append(f"{target}: {exc!r}")
                log(f"restart of {target} failed: {exc!r}")


# --------------------------------------------------------------------------- the audit


def eventually(check: Callable[[], tuple[bool, Any]], timeout: float, interval: float = 1.0) -> tuple[bool, Any]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            ok, detail = check()
        except Exception as exc:  # noqa: BLE001
            ok, detail = False, repr(exc)
        if ok or time.monotonic() > deadline:
            return ok, detail
        time.sleep(interval)


def wallet_db(stack: Stack) -> sqlite3.Connection:
    path = stack.wallet.database_url.removeprefix("sqlite:///")
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)


def audit_calls(stack: Stack, traffic: Traffic) -> tuple[dict[str, Any], list[str]]:
    """Match what the upstream saw, what callers got and what the wallet charged, by X-Request-ID."""
    problems: list[str] = []
    by_marker = {c.marker: c for c in traffic.calls}
    with wallet_db(stack) as db:
        charges = Counter(json.loads(d)["requestId"] for (d,) in db.execute(
            "SELECT details FROM ledger_txns WHERE type='api_gas'"))
        charged_tokens = Counter({json.loads(d)["requestId"]: int(a) for d, a in db.execute(
            "SELECT details, amount FROM ledger_txns WHERE type='api_gas'")})
    seen_ids: set[str] = set()
    figures: Counter[str] = Counter()
    spoofed = 0
    for seen in list(stack.upstream.seen):
        rid = seen.header("X-Request-ID")
        query = dict(p.split("=", 1) for p in seen.query.split("&") if "=" in p)
        call = by_marker.get(query.get("m", ""))
        if rid is None or call is None:
            problems.append(f"upstream saw a call it cannot place: {seen.path}?{seen.query}")
            continue
        if rid in seen_ids:
            problems.append(f"the upstream saw request id {rid} twice")
        seen_ids.add(rid)
        if seen.all("X-Caller-Org") != [CALLER] or seen.all("X-Janus-Proxy") != ["true"]:
            spoofed += 1
        up_ok = 200 <= int(query["status"]) < 300
        route = seen.path.removeprefix("/")
        route = "/" + route.split("/")[0] if route else "/"
        metered = PRICE.get(route, 1) > 0
        n = charges.get(rid, 0)
        figures["upstream_seen"] += 1
        if not (up_ok and metered):
            figures["upstream_not_billable"] += 1
            if n:
                problems.append(f"request {rid} ({route}, upstream {query['status']}) was charged {n} time(s)")
                figures["charged_non_2xx_or_free"] += 1
            continue
        figures["upstream_2xx_metered"] += 1
        if call.request_id == rid and call.status is not None and 200 <= call.status < 300:
            figures["delivered_2xx"] += 1
            if n == 1:
                figures["charged_once"] += 1
                if charged_tokens[rid] != PRICE[route]:
                    problems.append(f"request {rid} charged {charged_tokens[rid]} tokens, price {PRICE[route]}")
            elif n == 0:
                figures["lost_charges"] += 1
                problems.append(f"request {rid}: the caller got {call.status} but it was never charged")
            else:
                figures["double_charges"] += 1
                problems.append(f"request {rid} was charged {n} times")
        else:
            # Janus died (or cut the answer) after the upstream got the call: the caller never
            # got the 2xx. Charging it or not are both defensible; twice never is.
            figures["in_doubt"] += 1
            figures["in_doubt_charged"] += 1 if n == 1 else 0
            if n > 1:
                figures["double_charges"] += 1
                problems.append(f"request {rid} (in doubt) was charged {n} times")
    phantom = [rid for rid in charges if rid not in seen_ids]
    if phantom:
        problems.append(f"{len(phantom)} charge(s) for calls the upstream never saw, e.g. {phantom[:3]}")
    if spoofed:
        problems.append(f"{spoofed} call(s) reached the upstream without Janus's identity headers")
    answered = Counter(c.status for c in traffic.calls)
    figures.update({"calls": len(traffic.calls), "calls_answered": sum(v for k, v in answered.items() if k),
                    "calls_2xx": sum(v for k, v in answered.items() if k and 200 <= k < 300),
                    "api_charges": sum(charges.values()), "api_tokens": sum(charged_tokens.values()),
                    "phantom_charges": len(phantom)})
    figures.setdefault("lost_charges", 0)
    figures.setdefault("double_charges", 0)
    figures.setdefault("charged_non_2xx_or_free", 0)
    out: dict[str, Any] = dict(figures)
    out["statuses"] = {str(k or "cut"): v for k, v in sorted(answered.items(), key=lambda kv: kv[0] or 0)}
    return out, problems


def audit_keys(stack: Stack, churn: Churn) -> tuple[dict[str, Any], list[str]]:
    """No idempotency key took effect twice: settlements, hosting buckets, purchases."""
    problems: list[str] = []
    with wallet_db(stack) as db:
        hosting = Counter((d["component"], d["hour"]) for d in (json.loads(x) for (x,) in db.execute(
            "SELECT details FROM ledger_txns WHERE type='hosting_charge'")))
        purchased: defaultdict[str, int] = defaultdict(int)
        for wallet, amount in db.execute("SELECT wallet_id, amount FROM ledger_txns WHERE type='purchase'"):
            purchased[wallet] += int(amount)
        keys = int(db.execute("SELECT count(*) FROM idempotency_keys").fetchone()[0])
    twice = {k: n for k, n in hosting.items() if n > 1}
    if twice:
        problems.append(f"hosting buckets charged twice: {list(twice.items())[:5]}")
    expected: defaultdict[str, int] = defaultdict(int)
    for org, tokens in churn.purchases.values():
        expected[f"wallet-{org}"] += tokens
    expected[f"wallet-{CALLER}"] += 1_000_000
    for wallet in set(expected) | set(purchased):
        if purchased[wallet] != expected[wallet]:
            problems.append(f"{wallet}: purchases in the ledger {purchased[wallet]} != made once each "
                            f"{expected[wallet]}")
    return {"idempotency_keys": keys, "hosting_buckets_charged_twice": len(twice)}, problems


def audit_holds(stack: Stack) -> tuple[dict[str, Any], list[str]]:
    now = int(time.time() * 1_000_000)
    with wallet_db(stack) as db:
        late = db.execute("SELECT id, expires_at FROM holds WHERE status='open' AND expires_at <= ?",
                          (now - int(SWEEP * 2 * 1_000_000),)).fetchall()
        total = int(db.execute("SELECT count(*) FROM holds").fetchone()[0])
        by_status = dict(db.execute("SELECT status, count(*) FROM holds GROUP BY status").fetchall())
        held = int(db.execute("SELECT coalesce(sum(held), 0) FROM wallets").fetchone()[0])
    problems = [f"hold {h} still open {(now - e) / 1e6:.1f}s after its TTL" for h, e in late]
    return {"holds": total, "holds_by_status": by_status, "holds_open_past_ttl": len(late),
            "tokens_held_at_end": held}, problems


def audit_components(stack: Stack, churn: Churn, timeout: float) -> tuple[dict[str, Any], list[str]]:
    """Each Component ends as its spec and its org's wallet say: rolled out, or held back by the gate."""
    client = WalletClient(stack.wallet.url, stack.wallet.token, timeout=10)
    state: dict[str, str] = {}

    def verdict(comp: Comp) -> str | None:
        obj = stack.kube.component(comp.namespace, comp.name)
        status = obj.get("status") or {}
        conds = {c["type"]: c for c in status.get("conditions", [])}
        dep = stack.kube.deployment(comp.namespace, comp.name)
        rollout = None
        if dep is not None:
            labels = dep.spec.template.metadata.labels or {}
            rollout = (dep.spec.template.spec.containers[0].image, labels.get("tawa.insureco.io/tier"),
                       dep.spec.replicas)
        if (conds.get("Valid") or {}).get("status") != "True":
            return f"Valid is not True: {conds.get('Valid')}"
        if status.get("observedGeneration") != obj["metadata"]["generation"]:
            return f"observedGeneration {status.get('observedGeneration')} != {obj['metadata']['generation']}"
        check = client.check_reserve(comp.owner, comp.tier, comp.replicas)
        if check.ok:
            state[comp.name] = "rolled out"
            if dep is None or rollout != comp.rollout:
                return (f"gate open ({check.balance} ≥ {check.required}) "
                        f"but Deployment is {rollout}, spec {comp.rollout}")
            ready = dep.status.ready_replicas or 0
            if ready != comp.replicas or (dep.status.updated_replicas or 0) != comp.replicas:
                return f"{ready}/{comp.replicas} ready, {dep.status.updated_replicas} updated"
            if (conds.get("Ready") or {}).get("status") != "True":
                return f"Ready is {conds.get('Ready')}"
            return None
        state[comp.name] = "held back"
        if rollout == comp.rollout:
            return None  # rolled out while it was covered: the gate is a check, not a hold
        gate = conds.get("DeployGate") or {}
        if gate.get("status") != "False" or gate.get("reason") != "InsufficientReserve":
            return f"reserve not covered ({check.balance} < {check.required}) but DeployGate is {gate}"
        if rollout is not None and rollout not in comp.history:
            return f"Deployment {rollout} is no version ever applied"
        return None

    def converged() -> tuple[bool, Any]:
        bad = {f"{c.namespace}/{c.name}": why for c in churn.comps if (why := verdict(c))}
        return not bad, bad

    ok, bad = eventually(converged, timeout, interval=2.0)
    client.close()
    problems = [f"{name}: {why}" for name, why in (bad or {}).items()] if not ok else []
    return {"components": len(churn.comps), "converged": len(churn.comps) - (len(bad) if not ok else 0),
            "held_back_by_gate": sum(1 for v in state.values() if v == "held back")}, problems


def hosting_charges(stack: Stack) -> dict[str, list[dict[str, Any]]]:
    """The wallet's hosting charges by Component ("namespace/name"), each with its tokens."""
    per: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with wallet_db(stack) as db:
        for details, amount in db.execute("SELECT details, amount FROM ledger_txns WHERE type='hosting_charge'"):
            d = json.loads(details)
            per[d["component"]].append({**d, "tokens": int(amount)})
    return per


def await_hosting_caught_up(stack: Stack, churn: Churn, timeout: float) -> list[str]:
    """Wait until every Component with Ready pods has its current bucket charged.

    The last operator may have been started moments before the chaos ended: until
    its first tick it has caught up nothing, and stopping it then would leave the
    buckets it was about to charge as a false gap."""
    def caught_up() -> tuple[bool, Any]:
        per, now = hosting_charges(stack), bucket_start(time.time(), stack.hosting_period)
        behind = {}
        for comp in churn.comps:
            dep = stack.kube.deployment(comp.namespace, comp.name)
            if dep is None or not dep.status.ready_replicas:
                continue
            last = max((parse_bucket_id(e["hour"]) for e in per.get(f"{comp.namespace}/{comp.name}", [])),
                       default=None)
            if last is None or last < now:
                behind[comp.name] = f"last charged {bucket_id(last) if last else None}, now in {bucket_id(now)}"
        return not behind, behind

    ok, behind = eventually(caught_up, timeout)
    return [] if ok else [f"{name}: hosting never caught up ({why})" for name, why in behind.items()]


def audit_hosting(stack: Stack, churn: Churn, stopped_at: float) -> tuple[dict[str, Any], list[str]]:
    """Per running Component: buckets charged at most once, rate × pods, contiguous, up to the
    bucket the operator was told to stop in (`stopped_at`)."""
    problems: list[str] = []
    period = stack.hosting_period
    per = hosting_charges(stack)
    last_bucket = bucket_start(stopped_at, period)
    gaps = charges = 0
    for comp in churn.comps:
        events = sorted(per.get(f"{comp.namespace}/{comp.name}", []), key=lambda e: e["hour"])
        if not events and stack.kube.deployment(comp.namespace, comp.name) is None:
            continue  # never rolled out (the gate held its first version back): nothing runs, nothing to charge
        if not events:
            problems.append(f"{comp.namespace}/{comp.name}: never charged for hosting")
            continue
        charges += len(events)
        for e in events:
            if e["tokens"] != TIERS[e["tier"]].tokens_per_hour * e["pods"]:
                problems.append(f"{comp.name} bucket {e['hour']}: {e['tokens']} tokens for {e['pods']} × {e['tier']}")
        starts = [parse_bucket_id(e["hour"]) for e in events]
        missing = [bucket_id(a + period * k) for a, b in itertools.pairwise(starts)
                   for k in range(1, round((b - a) / period))]
        if missing:
            gaps += len(missing)
            problems.append(f"{comp.name}: buckets never charged: {missing[:5]}")
        if starts[-1] < last_bucket - period:
            problems.append(f"{comp.name}: last charged bucket {events[-1]['hour']}, the operator was stopped in "
                            f"{bucket_id(last_bucket)}")
    return {"hosting_charges": charges, "hosting_gaps": gaps}, problems


# --------------------------------------------------------------------------- the run


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    run_id = uuid.uuid4().hex[:5]
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="tawa-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    stack = start_stack(workdir, args.kubeconfig, args.hosting_period, run_id, args.verbose)
    figures: dict[str, Any] = {"seconds": args.seconds, "seed": args.seed, "hosting_period": args.hosting_period}
    problems: dict[str, list[str]] = {}
    try:
        client = WalletClient(stack.wallet.url, stack.wallet.token, timeout=10)
        for org in (CALLER, PROVIDER, *OWNERS):
            client.create_wallet(org)
        client.purchase(CALLER, 1_000_000, idempotency_key=f"soak-caller-funds/{run_id}")
        log(f"stack up in {time.monotonic() - started:.1f}s (workdir {workdir}); {args.seconds}s of chaos, "
            f"seed {args.seed}")

        churn = Churn(stack, random.Random(rng.random()), args.components, pause=1.5).start()
        traffic = Traffic(stack, threads=3, pause=0.01, rng=rng).start()
        chaos = Chaos(stack, random.Random(rng.random()), every=(2.0, 5.0), outage=(0.5, 2.5))
        time.sleep(min(8.0, args.seconds / 4))  # the first Components get going before the first crash
        chaos.run_for(max(0.0, args.seconds - min(8.0, args.seconds / 4)))

        log("chaos over: restarting whatever is down, stopping the load")
        for name in Chaos.TARGETS:
            retry(f"restart {name}", lambda n=name: stack.start(n))  # type: ignore[misc]
        churn.stop()
        traffic.stop()
        figures["kills"] = dict(chaos.kills)
        figures.update(churn.counts)
        errors = chaos.errors + churn.errors
        if errors:
            problems["load"] = errors[:10]

        log("waiting for Janus's spool to drain, then stopping Janus gracefully")
        drained, pending = eventually(lambda: ((n := stack.janus_spool_pending()) == 0, n), 60)
        if not drained:
            problems.setdefault("calls", []).append(f"Janus's spool still holds {pending} charges after 60s")
        for name in Chaos.TARGETS:
            if not stack.alive(name):
                problems.setdefault("run", []).append(f"{name} died on its own after the chaos")
        rejected = stack.janus_spool_rejected()
        if rejected:
            problems.setdefault("calls", []).append(f"the wallet refused spooled charges for good: {rejected[:3]}")
        stack.janus.stop()
        janus_stopped = time.monotonic()
        left = stack.janus_journal_left()
        if left:
            problems.setdefault("calls", []).append(f"{left} charges left in Janus's journal after a graceful stop")

        log("checking that every Component converged")
        comp_figures, comp_problems = audit_components(stack, churn, timeout=90)
        figures.update(comp_figures)
        if comp_problems:
            problems["components"] = comp_problems
        log("waiting for the operator to charge the current hosting bucket")
        behind = await_hosting_caught_up(stack, churn, timeout=30)
        if behind:
            problems["hosting"] = behind
        stopped_at = time.time()
        stack.operator.stop(timeout=10)  # no more hosting ticks: the buckets are final

        wait = HOLD_TTL + 2 * SWEEP + 1 - (time.monotonic() - janus_stopped)
        if wait > 0:
            log(f"waiting out the hold TTL ({wait:.0f}s)")
            time.sleep(wait)

        integrity = client.integrity()
        figures["integrity_ok"] = integrity.ok
        figures["ledger"] = integrity.counts
        if not integrity.ok:
            problems["integrity"] = integrity.problems[:10]
        for name, audit in (("calls", lambda: audit_calls(stack, traffic)),
                            ("idempotency", lambda: audit_keys(stack, churn)),
                            ("holds", lambda: audit_holds(stack)),
                            ("hosting", lambda: audit_hosting(stack, churn, stopped_at))):
            found, trouble = audit()
            figures.update(found)
            if trouble:
                problems.setdefault(name, []).extend(trouble)
        client.close()
    except Exception:  # noqa: BLE001 — a broken run is a failed check, with its reason
        problems.setdefault("run", []).append(traceback.format_exc(limit=8))
    finally:
        figures["wall_seconds"] = round(time.monotonic() - started, 1)
        if problems or args.keep:
            log(f"logs kept in {workdir}")
            for proc in stack.operators[-2:]:
                log(f"--- {proc.name}\n{proc.tail(30)}")
        stack.close()
        if not problems and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    figures["checks"] = {name: not problems.get(name) for name in
                         ("integrity", "idempotency", "calls", "holds", "components", "hosting")}
    figures["problems"] = {k: v[:10] for k, v in problems.items()}
    figures["ok"] = not problems
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=300.0, help="length of the chaos phase (default 300)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the random kills and changes")
    parser.add_argument("--components", type=int, default=6)
    parser.add_argument("--hosting-period", type=float, default=3.0, help="seconds per hosting bucket")
    parser.add_argument("--kubeconfig", default=None, help="use this cluster instead of starting one")
    parser.add_argument("--workdir", default=None, help="keep state and logs here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory even when all is well")
    parser.add_argument("--verbose", action="store_true", help="the operator logs every handler run")
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = random.randrange(1_000_000)
    figures = run(args)
    for name, passed in figures["checks"].items():
        print(f"{'ok  ' if passed else 'FAIL'} {name}" + ("" if passed else f": {figures['problems'].get(name)}"))
    for name, trouble in figures["problems"].items():
        if name not in figures["checks"]:
            print(f"FAIL {name}: {trouble}")
    record("soak", {k: v for k, v in figures.items() if k not in ("problems",)})
    print(json.dumps(figures, sort_keys=False))
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
