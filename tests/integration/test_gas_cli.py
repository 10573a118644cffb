"""`tawa gas` against a real wallet server, as a user reads it in a terminal."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from tests.fixtures.wallet import WalletServer


def test_gas_fits_an_80_column_terminal_and_never_cuts_a_value(module_wallet: WalletServer) -> None:
    server, client = module_wallet, module_wallet.client
    org = f"gas{uuid.uuid4().hex[:8]}"
    client.create_wallet(org)
    client.purchase(org, 1_000)
    client.hosting_charge(org, f"{org}-dev/analytics", "2026-12-06T02:00:00Z", 23, tier="medium", pods=1,
                          service="analytics")
    provider = f"prov{uuid.uuid4().hex[:8]}"
    client.create_wallet(provider)
    hold = client.hold(org, 5)
    client.settle(hold.id, provider, 5, service="docman", route="/documents", method="POST",
                  request_id=uuid.uuid4().hex)
    env = {**os.environ, "TAWA_WALLET_URL": server.url, "TAWA_WALLET_TOKEN": server.token, "COLUMNS": "80"}
    result = subprocess.run([sys.executable, "-m", "tawa.cli.main", "gas", "--org", org], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= 80, result.stdout
    assert lines[0].split() == ["TIME", "(UTC)", "KIND", "ORG", "SERVICE", "CALL", "/", "HOUR", "TOKENS"]
    hosting = next(line for line in lines if " hosting " in line)
    assert f" {org} " in hosting and " analytics " in hosting and " 2026-12-06 02:00 " in hosting  # whole, one line
    api = next(line for line in lines if " api " in line)
    assert " docman " in api and " POST /documents " in api and api.rstrip().endswith(" 5")
