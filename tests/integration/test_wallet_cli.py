"""`tawa wallet balance|ledger|buy` against a real wallet server, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from tests.fixtures.wallet import WalletServer


def tawa(server: WalletServer, *args: str, stdin: str = "", url: str | None = None,
         token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TAWA_WALLET_URL": url or server.url, "TAWA_WALLET_TOKEN": token or server.token}
    return subprocess.run([sys.executable, "-m", "tawa.cli.main", "wallet", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def server(module_wallet: WalletServer) -> WalletServer:
    return module_wallet


@pytest.fixture
def org(server: WalletServer) -> str:
    name = f"cli{uuid.uuid4().hex[:8]}"
    server.client.create_wallet(name)
    return name


def test_buy_then_balance_and_ledger(server: WalletServer, org: str) -> None:
    r = tawa(server, "buy", org, "25,000")
    assert r.returncode == 0, r.stderr
    assert "bought 25,000 tokens ($250.00)" in r.stdout
    r = tawa(server, "balance", org, "--json")
    assert r.returncode == 0
    data = json.loads(r.stdout)
    assert data["balances"] == {"intro": 50_000, "purchased": 25_000, "earned": 0} and data["total"] == 75_000
    table = tawa(server, "balance", org).stdout
    assert "purchased" in table and "25,000" in table and "75,000" in table
    ledger = json.loads(tawa(server, "ledger", org, "--json", "--limit", "1").stdout)
    assert [t["type"] for t in ledger["transactions"]] == ["purchase"] and ledger["nextCursor"]
    human = tawa(server, "ledger", org).stdout
    assert "purchased +25,000" in human and "intro +50,000" in human


def test_buy_offers_presets_when_interactive(server: WalletServer, org: str) -> None:
    import pty

    env = {**os.environ, "TAWA_WALLET_URL": server.url, "TAWA_WALLET_TOKEN": server.token}
    pid, fd = pty.fork()
    if pid == 0:  # child: stdin is a terminal
        os.execve(sys.executable, [sys.executable, "-m", "tawa.cli.main", "wallet", "buy", org], env)
    out = b""
    while b"Buy" not in out:
        out += os.read(fd, 1024)
    os.write(fd, b"3\n")
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    text = out.decode()
    assert "10,000 tokens ($100)" in text and "100,000 tokens ($1,000)" in text and "another amount" in text
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert server.client.get_wallet(org).balances.purchased == 50_000


@pytest.mark.parametrize("amount", ["0", "-5", "1.5", "ten", str(2**53 + 1)])
def test_buy_bad_amount_exits_2_and_buys_nothing(server: WalletServer, org: str, amount: str) -> None:
    r = tawa(server, "buy", org, "--", amount)
    assert r.returncode == 2 and r.stderr.startswith("error: TOKENS") and r.stderr.count("\n") == 1
    assert server.client.get_wallet(org).balances.purchased == 0


@pytest.mark.parametrize("amount", ["-5", "-1,000", "-0.5"])
def test_buy_negative_amount_without_double_dash_gets_the_amount_rule(server: WalletServer, org: str,
                                                                      amount: str) -> None:
    r = tawa(server, "buy", org, amount)  # click alone takes -5 for an option: "No such option '-5'"
    assert r.returncode == 2
    assert r.stderr == f"error: TOKENS must be a whole number of tokens from 1 to 9,007,199,254,740,992; got " \
                       f"'{amount}'\n"
    assert server.client.get_wallet(org).balances.purchased == 0
    unknown = tawa(server, "buy", org, "10", "--jsn")  # a mistyped flag is still a mistyped flag
    assert unknown.returncode == 2 and "No such option '--jsn'" in unknown.stderr


def test_buy_without_amount_when_not_interactive_exits_2(server: WalletServer, org: str) -> None:
    r = tawa(server, "buy", org)
    assert r.returncode == 2 and "TOKENS is required" in r.stderr


def test_unknown_wallet_and_unreachable_wallet_exit_1(server: WalletServer, org: str) -> None:
    r = tawa(server, "balance", "nobody")
    assert r.returncode == 1 and "wallet-nobody" in r.stderr and r.stderr.count("\n") == 1
    r = tawa(server, "balance", org, url="http://127.0.0.1:1")
    assert r.returncode == 1 and "error:" in r.stderr
    assert tawa(server, "balance", org, "--wallet-url", server.url, url="http://127.0.0.1:1").returncode == 0


def test_grants_add_list_and_remove(server: WalletServer, org: str) -> None:
    r = tawa(server, "grants", org)
    assert r.returncode == 0 and "no grants" in r.stdout, r.stderr
    r = tawa(server, "grants", org, "--add", "acme/quoting", "--add", "bigco/rater", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"wallet": f"wallet-{org}", "grants": [{"org": "acme", "service": "quoting"},
                                                                         {"org": "bigco", "service": "rater"}]}
    r = tawa(server, "grants", org, "--remove", "acme/quoting")
    assert r.returncode == 0 and "bigco" in r.stdout and "rater" in r.stdout and "acme" not in r.stdout


@pytest.mark.parametrize(("args", "says"), [
    (("grants", "{org}", "--add", "quoting"), "ORG/SERVICE"),
    (("grants", "{org}", "--add", "wallet-acme/quoting"), "ORG/SERVICE"),
    (("balance", "wallet-{org}"), "is a wallet id; name the org instead: {org}"),
    (("balance", "Acme Co"), "ORG must be an org slug"),
])
def test_names_that_are_not_canonical_are_bad_input(server: WalletServer, org: str, args: tuple[str, ...],
                                                    says: str) -> None:
    r = tawa(server, *(a.format(org=org) for a in args))
    assert r.returncode == 2 and says.format(org=org) in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_keys_create_list_revoke_and_an_owner_key_runs_the_cli_for_its_org(server: WalletServer, org: str) -> None:
    made = tawa(server, "keys", "create", org, "--role", "owner", "--name", "laptop", "--json")
    assert made.returncode == 0, made.stderr
    owner = json.loads(made.stdout)
    assert owner["role"] == "owner" and owner["name"] == "laptop" and owner["key"].startswith("twk_")
    human = tawa(server, "keys", "create", org, "--role", "viewer", token=owner["key"])  # an owner makes keys
    assert human.returncode == 0 and "shown only now" in human.stdout, human.stderr
    viewer_key = next(line.split()[1] for line in human.stdout.splitlines() if line.startswith("key: "))
    assert tawa(server, "buy", org, "100", token=owner["key"]).returncode == 0
    ledger = tawa(server, "ledger", org, "--limit", "2", token=viewer_key).stdout  # a viewer reads
    assert "BY" in ledger and "key:" in ledger and "admin" in ledger, ledger  # the purchase; the intro grant
    assert json.loads(tawa(server, "ledger", org, "--json", "--limit", "1").stdout)["transactions"][0][
        "actor"] == f"key:{owner['id']}"
    assert tawa(server, "buy", org, "100", token=viewer_key).returncode == 1  # 403: a viewer only reads
    other = f"cli{uuid.uuid4().hex[:8]}"
    server.client.create_wallet(other)
    refused = tawa(server, "balance", other, token=owner["key"])
    assert refused.returncode == 1 and "may not read wallets of wallet-" in refused.stderr
    listed = json.loads(tawa(server, "keys", "list", org, "--json").stdout)
    assert sorted(k["role"] for k in listed) == ["owner", "viewer"] and "key" not in listed[0]
    table = tawa(server, "keys", "list", org).stdout
    assert "laptop" in table and owner["id"] in table and owner["key"] not in table
    revoked = tawa(server, "keys", "revoke", org, owner["id"])
    assert revoked.returncode == 0 and f"revoked key {owner['id']}" in revoked.stdout
    assert tawa(server, "balance", org, token=owner["key"]).returncode == 1  # 401 from the next request on
    assert tawa(server, "keys", "revoke", org, owner["id"], "--json").returncode == 1
    assert tawa(server, "keys", "create", org, "--role", "admin").returncode == 2
