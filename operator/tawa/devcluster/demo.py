"""`make run`'s story: deploy examples/ on the dev stack and show, in a few
lines, Components running, one blocked by the deploy gate and why, a metered
call through Janus with the balances before and after, and the console with a
key to log in with."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from kubernetes import client

from tawa.catalog.problems import CatalogError
from tawa.catalog.render import render_component
from tawa.catalog.validate import load_catalog
from tawa.devcluster.stack import StackState
from tawa.devcluster.token import service_claims, service_token
from tawa.kube import api_client
from tawa.kube.components import apply_component, get_component
from tawa.resource import UPSTREAM_URL_ANNOTATION, condition
from tawa.wallet.client import WalletClient

ORGS = ("insureco", "acme", "raterspot", "startupco")
CALLER_PURCHASE = 5_000  # API gas is never paid from intro tokens
FIELD_MANAGER = "tawa-demo"
CONSOLE_ORG = "startupco"  # its Component is the blocked one: the console shows the gate and its fix


class BadExample(ValueError):
    """A file of the examples folder that is not a valid catalog-info.yaml."""


def _components(examples: Path, state: StackState) -> list[dict[str, Any]]:
    manifests = []
    for path in sorted(examples.glob("*.yaml")):
        try:
            catalog, _ = load_catalog(path.read_text())
        except (CatalogError, OSError, UnicodeDecodeError) as exc:
            raise BadExample(f"{path}: {exc}; check it with `tawa catalog validate {path}`") from None
        manifest = render_component(catalog, state.env, f"registry.local/{catalog.metadata.name}:demo")
        # Stand-in upstream: kwok's pods serve nothing, so Janus forwards here instead.
        manifest["metadata"].setdefault("annotations", {})[UPSTREAM_URL_ANNOTATION] = \
            f"{state.upstream_url}/{catalog.metadata.name}"
        manifests.append(manifest)
    return manifests


def _gate(api: client.ApiClient, manifest: dict[str, Any]) -> dict[str, Any]:
    meta = manifest["metadata"]
    status = (get_component(api, meta["namespace"], meta["name"]) or {}).get("status") or {}
    gate = condition(status, "DeployGate") or {}
    return {"name": meta["name"], "namespace": meta["namespace"], "gate": gate, "ready": status.get("ready", "0/0"),
            "readyReplicas": status.get("readyReplicas", 0), "tier": status.get("tier")}


def _settled(views: list[dict[str, Any]]) -> bool:
    return all(v["gate"].get("reason") == "InsufficientReserve" or v["readyReplicas"] > 0 for v in views)


def _wait(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"examples did not settle within {timeout:.0f}s; see `kubectl get comp -A`")
        time.sleep(1)


def _metered_call(state: StackState, wallets: WalletClient, say: Callable[[str], None]) -> None:
    token = service_token(state.jwt_secret, service_claims("acme", "quoter", int(time.time()), lifetime=300))
    before = wallets.get_wallet("acme"), wallets.get_wallet("insureco")
    response = httpx.post(f"{state.janus_url}/proxy/docman/documents", json={"template": "quote"},
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)
    request_id = response.headers.get("X-Request-ID", "")
    say(f"  quoter (org acme) → POST {state.janus_url}/proxy/docman/documents → {response.status_code}")
    time.sleep(1.5)  # Janus settles in small batches
    events = [e for e in wallets.gas_events(org="acme", limit=20).events if e.request_id == request_id]
    after = wallets.get_wallet("acme"), wallets.get_wallet("insureco")
    charged = events[0].tokens if events else 0
    say(f"  charged {charged} tokens (route /documents, gas: 5): acme purchased "
        f"{before[0].balances.purchased:,} → {after[0].balances.purchased:,}; insureco earned "
        f"{before[1].balances.earned:,} → {after[1].balances.earned:,}")


def _unblock_commands(wallets: WalletClient, manifest: dict[str, Any], view: dict[str, Any]) -> list[str]:
    """What to run about a blocked Component, with the shortfall the wallet reports now (the
    same check the gate makes), not a number written down when the demo was."""
    meta, spec = manifest["metadata"], manifest["spec"]
    check = wallets.check_reserve(spec["owner"], view["tier"], spec.get("replicas", 1))
    describe = f"kubectl describe comp -n {meta['namespace']} {meta['name']}"
    return [describe] + ([f"tawa wallet buy {spec['owner']} {check.shortfall}"] if check.shortfall > 0 else [])


def _console(state: StackState, wallets: WalletClient, say: Callable[[str], None]) -> None:
    """The console's URL and a new owner key of CONSOLE_ORG to log in with (made by the admin)."""
    if not state.console_url:  # a stack started before the console was part of it
        return
    key = wallets.create_key(CONSOLE_ORG, "owner", "make run").key
    say(f"The console: {state.console_url}, log in with {CONSOLE_ORG}'s owner key {key} "
        "(Components shows the gate; buying on Wallet opens it)")


def run(state: StackState, examples: Path, say: Callable[[str], None] = print) -> None:
    manifests = _components(examples, state)  # every file checked before anything is created
    api = api_client(state.kubeconfig)
    next_steps = ['eval "$(tawa dev env)"', "tawa status --org acme", "kubectl get comp -A"]
    with WalletClient(state.wallet_url, state.wallet_token) as wallets:
        for org in ORGS:
            wallets.create_wallet(org, idempotency_key=f"demo/wallet/{org}")
        wallets.purchase("acme", CALLER_PURCHASE, idempotency_key="demo/purchase/acme")
        for manifest in manifests:
            apply_component(api, manifest, FIELD_MANAGER)
        say(f"Deployed {len(manifests)} Components from {examples}/ (env {state.env}):")
        _wait(lambda: _settled([_gate(api, m) for m in manifests]), 120)
        for manifest, view in ((m, _gate(api, m)) for m in manifests):
            gate = view["gate"]
            if gate.get("reason") == "InsufficientReserve":
                say(f"  ✗ {view['namespace']}/{view['name']} ({view['tier']}): blocked — {gate['message']}")
                next_steps += _unblock_commands(wallets, manifest, view)
            else:
                say(f"  ✓ {view['namespace']}/{view['name']} ({view['tier']}): running, {view['ready']} pods ready")
        say("A metered call through Janus:")
        _metered_call(state, wallets, say)
        _console(state, wallets, say)
    say(f"Next: `{next_steps[0]}`, then {', '.join(f'`{step}`' for step in next_steps[1:])}; "
        "`make stop` stops the stack and deletes its cluster and wallet together.")
