"""The wallet's policy table, walked whole: every role × every endpoint (pure, no server)."""

from __future__ import annotations

import pytest

from tawa.wallet.policy import RULES, Allowed, Forbidden, Identity, Role, decide, rule_for

ACME = "/v1/wallets/wallet-acme"
# Written out by hand from the role table (not derived from RULES): endpoint → roles besides admin.
EXPECTED: dict[tuple[str, str], set[str]] = {
    ("POST", "/v1/wallets"): set(),
    ("GET", ACME): {"operator", "janus", "owner", "viewer"},
    ("GET", f"{ACME}/ledger"): {"owner", "viewer"},
    ("POST", f"{ACME}/purchases"): {"owner"},
    ("POST", f"{ACME}/check-reserve"): {"operator"},
    ("POST", f"{ACME}/hosting-charges"): {"operator"},
    ("GET", f"{ACME}/bill-grants"): {"janus", "owner", "viewer"},
    ("PUT", f"{ACME}/bill-grants"): {"owner"},
    ("POST", f"{ACME}/keys"): {"owner"},
    ("GET", f"{ACME}/keys"): {"owner"},
    ("DELETE", f"{ACME}/keys/abc123"): {"owner"},
    ("POST", "/v1/holds"): {"janus"},
    ("POST", "/v1/holds/batch"): {"janus"},
    ("POST", "/v1/holds/hold-1/settle"): {"janus"},
    ("POST", "/v1/holds/hold-1/release"): {"janus"},
    ("POST", "/v1/settlements/batch"): {"janus"},
    ("GET", "/v1/gas/events"): {"owner", "viewer"},
    ("GET", "/v1/gas/stats"): {"owner", "viewer"},
    ("GET", "/v1/admin/integrity"): set(),
    ("POST", "/v1/transactions/7/reversals"): set(),
    ("GET", "/metrics"): set(),
    ("GET", "/v1/whoami"): {"operator", "janus", "owner", "viewer"},
}
IDENTITIES = {
    "admin": Identity(Role.ADMIN), "operator": Identity(Role.OPERATOR), "janus": Identity(Role.JANUS),
    "owner": Identity(Role.OWNER, "acme", "k1"), "viewer": Identity(Role.VIEWER, "acme", "k2"),
}


def test_the_expectation_covers_every_rule_of_the_table() -> None:
    covered = {rule_for(method, path)[0] for method, path in EXPECTED}  # type: ignore[index]
    assert covered == set(RULES)


@pytest.mark.parametrize(("method", "path"), list(EXPECTED))
@pytest.mark.parametrize("who", list(IDENTITIES))
def test_every_role_on_every_endpoint(who: str, method: str, path: str) -> None:
    decision = decide(IDENTITIES[who], method, path, ["acme"] if "/gas/" in path else [])
    if who == "admin" or who in EXPECTED[method, path]:
        assert isinstance(decision, Allowed)
    else:
        assert isinstance(decision, Forbidden)
        assert decision.message.startswith(IDENTITIES[who].described()) and " may not " in decision.message


@pytest.mark.parametrize(("method", "path"), [k for k, v in EXPECTED.items() if "owner" in v and "wallet-" in k[1]])
@pytest.mark.parametrize("role", [Role.OWNER, Role.VIEWER])
def test_org_keys_never_reach_another_orgs_wallet(role: Role, method: str, path: str) -> None:
    decision = decide(Identity(role, "other", "k9"), method, path)
    assert isinstance(decision, Forbidden)
    assert role == Role.VIEWER or "only of its own wallet wallet-other" in decision.message


def test_gas_reads_of_an_org_key_are_its_own_org_only() -> None:
    viewer = Identity(Role.VIEWER, "acme", "k2")
    assert decide(viewer, "GET", "/v1/gas/events") == Allowed(rule_for("GET", "/v1/gas/events")[0],  # type: ignore[index]
                                                               org_filter="acme")
    refused = decide(viewer, "GET", "/v1/gas/stats", ["acme", "victim"])
    assert isinstance(refused, Forbidden) and "org victim" in refused.message


def test_paths_no_rule_names_are_admin_only_and_head_is_a_get() -> None:
    assert isinstance(decide(IDENTITIES["admin"], "GET", "/v1/nothing"), Allowed)
    assert isinstance(decide(IDENTITIES["janus"], "GET", "/v1/nothing"), Forbidden)
    assert isinstance(decide(IDENTITIES["viewer"], "HEAD", ACME), Allowed)
    assert isinstance(decide(IDENTITIES["owner"], "GET", "/v1/wallets/wallet-acme/extra"), Forbidden)


def test_actors() -> None:
    assert [i.actor for i in IDENTITIES.values()] == ["admin", "operator", "janus", "key:k1", "key:k2"]


def test_program_tokens_come_from_settings_and_must_differ_from_each_other() -> None:
    from tawa.wallet.settings import ServerSettings

    env = {"TAWA_WALLET_TOKEN": "a", "TAWA_WALLET_OPERATOR_TOKEN": "o", "TAWA_WALLET_JANUS_TOKEN": "j"}
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        settings = ServerSettings.from_env()
        assert (settings.token, settings.operator_token, settings.janus_token) == ("a", "o", "j")
        mp.setenv("TAWA_WALLET_JANUS_TOKEN", "a")
        with pytest.raises(ValueError, match="must differ"):
            ServerSettings.from_env()
