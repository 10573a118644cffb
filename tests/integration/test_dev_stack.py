"""`make run`'s path: `tawa dev up`, the examples' story, `tawa dev down` — as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.fixtures.ports import free_port

pytestmark = pytest.mark.cluster
REPO = Path(__file__).parents[2]


def tawa(data_dir: Path, *args: str, timeout: float = 300, **env_vars: str) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TAWA_") and k != "KUBECONFIG"},
           "TAWA_DATA_DIR": str(data_dir), **env_vars}
    return subprocess.run([sys.executable, "-m", "tawa.cli.main", *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=timeout)


def exports_of(data_dir: Path) -> dict[str, str]:
    return dict(line.removeprefix("export ").split("=", 1) for line in tawa(data_dir, "dev", "env").stdout.splitlines())


def check_first_story(data_dir: Path) -> None:
    """What `make run` prints on a fresh stack: the same every time, after `make stop` too."""
    story = tawa(data_dir, "dev", "demo")
    assert story.returncode == 0, story.stderr
    lines = story.stdout.splitlines()
    assert "  ✓ docman-dev/docman (small): running, 1/1 pods ready" in lines
    assert any(line.startswith("  ✗ analytics-dev/analytics (medium): blocked — deploy blocked: "
                               "wallet-startupco holds 50,000 tokens") and "370 short" in line for line in lines)
    assert any("/proxy/docman/documents → 201" in line for line in lines)
    assert ("  charged 5 tokens (route /documents, gas: 5): acme purchased 5,000 → 4,995; "
            "insureco earned 0 → 5") in lines
    console = f"The console: {exports_of(data_dir)['TAWA_CONSOLE_URL']}, log in with startupco's owner key twk_"
    assert lines[-2].startswith(console), lines[-2]
    check_the_console_key(lines[-2].split(" owner key ")[1].split()[0], exports_of(data_dir)["TAWA_CONSOLE_URL"])
    assert lines[-1] == ('Next: `eval "$(tawa dev env)"`, then `tawa status --org acme`, `kubectl get comp -A`, '
                         "`kubectl describe comp -n analytics-dev analytics`, `tawa wallet buy startupco 370`; "
                         "`make stop` stops the stack and deletes its cluster and wallet together.")


def test_dev_up_demo_down(tmp_path: Path) -> None:
    try:
        up = tawa(tmp_path, "dev", "up", "--detach", "--hosting-period", "5")
        assert up.returncode == 0, up.stderr
        exports = exports_of(tmp_path)
        assert set(exports) == {"KUBECONFIG", "TAWA_WALLET_URL", "TAWA_WALLET_TOKEN", "TAWA_JANUS_URL",
                                "TAWA_JANUS_JWT_SECRET", "TAWA_ENV", "TAWA_CONSOLE_URL"}
        assert httpx.get(f"{exports['TAWA_CONSOLE_URL']}/login").status_code == 200
        assert tawa(tmp_path, "dev", "up", "--detach").returncode == 0  # again: safe, same stack
        assert exports_of(tmp_path) == exports
        check_programs_hold_their_own_wallet_tokens(tmp_path, exports["TAWA_WALLET_TOKEN"])
        assert exports_of(tmp_path) == exports

        check_first_story(tmp_path)
        again = tawa(tmp_path, "dev", "demo")  # re-running buys nothing twice; one more call is charged
        assert "acme purchased 4,995 → 4,990" in again.stdout, again.stdout + again.stderr
        check_cli_against_the_stack(tmp_path, exports)
        check_the_readme_laptop_how_to(tmp_path, exports)
    finally:
        down = tawa(tmp_path, "dev", "down")
    assert down.returncode == 0 and "stopped" in down.stdout
    assert tawa(tmp_path, "dev", "env").returncode == 1
    assert sorted(p.name for p in (tmp_path / "dev").iterdir()) == ["logs"]  # cluster and wallet: both gone

    try:  # `make stop`, then `make run` again: a new cluster and a new wallet, the same story
        assert tawa(tmp_path, "dev", "up", "--detach", "--hosting-period", "5").returncode == 0
        check_first_story(tmp_path)
    finally:
        assert tawa(tmp_path, "dev", "down").returncode == 0


def check_the_console_key(key: str, console_url: str) -> None:
    """The key `make run` prints logs in to the console, whose Components page shows the blocked gate."""
    with httpx.Client(base_url=console_url, timeout=10) as http:
        login = http.get("/login")
        csrf = login.text.split('name="csrf" value="')[1].split('"')[0]
        assert http.post("/login", data={"key": key, "csrf": csrf}).status_code == 303
        page = http.get("/components").text
    assert "analytics" in page and "closed: InsufficientReserve" in page and "tawa wallet buy startupco" in page


def check_programs_hold_their_own_wallet_tokens(data_dir: Path, admin_token: str) -> None:
    """Issue 16: the operator and Janus present tokens of their own roles, never the admin's."""
    pids = json.loads((data_dir / "dev" / "stack.json").read_text())["pids"]

    def environ(name: str) -> dict[str, str]:
        raw = Path(f"/proc/{pids[name]}/environ").read_bytes().split(b"\0")
        return dict(item.decode().split("=", 1) for item in raw if b"=" in item)

    operator, janus = environ("operator"), environ("janus")
    tokens = {operator["TAWA_WALLET_TOKEN"], janus["TAWA_WALLET_TOKEN"], admin_token}
    assert len(tokens) == 3
    for env in (operator, janus):
        assert admin_token not in env.values()
        assert not {"TAWA_WALLET_OPERATOR_TOKEN", "TAWA_WALLET_JANUS_TOKEN"} & set(env)
    refused = subprocess.run([sys.executable, "-c", (
        "import sys; from tawa.wallet.client import WalletClient, WalletAuthError\n"
        "try: WalletClient().purchase('acme', 1)\nexcept WalletAuthError as e: print(e.status)")],
        env={**os.environ, "TAWA_WALLET_URL": environ("janus")["TAWA_WALLET_URL"],
             "TAWA_WALLET_TOKEN": janus["TAWA_WALLET_TOKEN"]}, capture_output=True, text=True, timeout=30)
    assert refused.stdout.strip() == "403", refused.stderr  # Janus's token cannot mint tokens


# Stops the how-to's server even when a step fails (set -e), keeping the script's exit status.
CLEAN_UP_JOBS = "set -e; trap 'status=$?; set +e; kill $(jobs -p) 2>/dev/null; exit $status' EXIT\n"


def check_the_readme_laptop_how_to(data_dir: Path, exports: dict[str, str]) -> None:
    """README's "Call a service through Janus from your laptop", as written (on a free port and a
    folder of its own), on the stack `make run` started."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("**Call a service through Janus from your laptop**"):]
    block = section[section.index("```sh\n") + 6:section.index("\n```\n")]
    port = free_port()
    script = block.replace("8765", str(port)).replace("/tmp/hello", str(data_dir / "hello"))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TAWA_") and k != "KUBECONFIG"},
           "TAWA_DATA_DIR": str(data_dir)}
    result = subprocess.run(["bash", "-c", CLEAN_UP_JOBS + script],
                            capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "hello-dev/hello is running (1 × nano)" in lines and "200" in lines, result.stdout
    call = next(line.split() for line in lines if " hello " in line and " api " in line)
    assert call[-5:] == ["acme", "hello", "GET", "/", "2"]  # ORG SERVICE CALL TOKENS, on one line
    events = json.loads(tawa(data_dir, "gas", "--org", "acme", "--json", **exports).stdout)
    assert [(e["service"], e["route"], e["method"], e["tokens"]) for e in events
            if e["service"] == "hello" and e["kind"] == "api"] == [
        ("hello", "/", "GET", 2)]


def check_cli_against_the_stack(data_dir: Path, exports: dict[str, str]) -> None:
    def run_json(*args: str) -> object:
        result = tawa(data_dir, *args, "--json", **exports)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    status = run_json("status", "--org", "acme")
    assert [(c["name"], c["tier"], c["gate"], c["ready"]) for c in status["components"]] == [
        ("quoter", "nano", "ReserveCovered", "1/1")]
    assert status["tokensPerHour"] == 5 and status["wallet"]["balances"]["purchased"] == 4_990
    available = status["wallet"]["total"] - status["wallet"]["held"]
    assert status["runwayDays"] == round(available / 5 / 24, 1)

    recent = run_json("gas", "--org", "acme")
    api_calls = [e for e in recent if e["kind"] == "api"]
    assert [(e["service"], e["route"], e["method"], e["tokens"], e["provider"]) for e in api_calls] == [
        ("docman", "/documents", "POST", 5, "wallet-insureco")] * 2

    stats = run_json("gas", "events", "--stats", "--by", "service", "--org", "acme")
    docman = next(g for g in stats["groups"] if g["key"] == "docman")
    assert docman["apiTokens"] == 10

    pricing = run_json("gas", "pricing", "--service", "docman")
    assert pricing["hosting"]["reserve"] == 21_900 and len(pricing["routes"]) == 5
    everything = run_json("gas", "pricing", "--all")
    assert sorted(p["service"] for p in everything) == ["analytics", "docman", "quoter", "raterspot"]

    csv_lines = tawa(data_dir, "gas", "events", "--org", "acme", "--csv", **exports).stdout.splitlines()
    assert csv_lines[0] == "time,kind,org,service,route,method,tokens,provider,requestId"
