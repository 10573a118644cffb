"""One settings story (tawa.settings): flags > environment > config file > defaults, for every
program's settings; and the defaults they share (tawa.defaults), defined once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tawa import defaults
from tawa.controller.settings import OperatorSettings
from tawa.janus.settings import JanusSettings
from tawa.settings import ConfigError, SharedSettings
from tawa.wallet import domain
from tawa.wallet.settings import ServerSettings


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty environment (no TAWA_*, no KUBECONFIG), HOME in tmp_path, and a config file to fill in."""
    for name in [n for n in os.environ if n.startswith("TAWA_") or n == "KUBECONFIG"]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    path = tmp_path / "config.yaml"
    monkeypatch.setenv("TAWA_CONFIG", str(path))
    return path


def test_flag_beats_environment_beats_config_file_beats_default(config: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    assert SharedSettings().env == "prod"
    config.write_text("env: staging\nwallet-url: http://file:1\ndata-dir: ~/from-file\n")
    assert SharedSettings().env == "staging"
    monkeypatch.setenv("TAWA_ENV", "dev")
    assert SharedSettings().env == "dev"
    assert SharedSettings(env="flag").env == "flag"
    for settings in (SharedSettings(), OperatorSettings(), JanusSettings()):
        assert settings.wallet_url == "http://file:1"
    monkeypatch.setenv("TAWA_WALLET_URL", "http://env:2")
    for settings in (SharedSettings(), OperatorSettings(), JanusSettings()):
        assert settings.wallet_url == "http://env:2"
    assert JanusSettings(wallet_url="http://flag:3").wallet_url == "http://flag:3"
    home = Path.home()
    assert SharedSettings().data_dir == JanusSettings().data_dir == home / "from-file"
    assert ServerSettings.from_env(insecure_no_auth=True).database_url == f"sqlite:///{home}/from-file/wallet.db"


def test_config_file_counts_as_the_variable_it_names(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`env` is TAWA_ENV: Janus's own TAWA_JANUS_ENV still comes first, and nothing is written to os.environ."""
    config.write_text("env: staging\nwallet-token: t0\nkubeconfig: /k\n")
    assert JanusSettings().env == "staging" and OperatorSettings().env == "staging"
    monkeypatch.setenv("TAWA_JANUS_ENV", "janus-own")
    assert JanusSettings().env == "janus-own"
    assert ServerSettings.from_env().token == "t0" and SharedSettings().wallet_token == "t0"
    assert SharedSettings().kubeconfig == "/k"
    assert not {"TAWA_ENV", "TAWA_WALLET_TOKEN", "KUBECONFIG"} & set(os.environ)


def test_a_broken_config_file_is_one_line_from_any_settings_class(config: Path) -> None:
    config.write_text("wallet_url: http://x\n")
    for settings_class in (SharedSettings, OperatorSettings, JanusSettings):
        with pytest.raises(ConfigError, match="unknown setting 'wallet_url'; known: wallet-url"):
            settings_class()


def test_shared_defaults_are_defined_once(config: Path) -> None:
    assert domain.INTRO_GRANT is defaults.INTRO_GRANT and domain.MAX_TOKENS is defaults.MAX_TOKENS
    assert defaults.MAX_TOKENS == 2**53 and defaults.INTRO_GRANT == 50_000
    home_data = Path.home() / ".local" / "share" / "tawa"
    assert defaults.data_dir() == home_data
    assert SharedSettings().data_dir == JanusSettings().data_dir == ServerSettings.from_env(
        insecure_no_auth=True).data_dir == home_data
    assert SharedSettings().wallet_url == OperatorSettings().wallet_url == JanusSettings().wallet_url \
        == defaults.WALLET_URL == "http://127.0.0.1:8081"
    from tawa.devcluster.stack import state_dir

    assert state_dir() == home_data / "dev"


@pytest.mark.parametrize(("env", "message"), [
    ({"TAWA_WALLET_SWEEP_SECONDS": "abc"}, "TAWA_WALLET_SWEEP_SECONDS must be a number"),
    ({"TAWA_WALLET_AUTH_FAILURE_LIMIT": "x"}, "TAWA_WALLET_AUTH_FAILURE_LIMIT must be a number"),
    ({"TAWA_WALLET_IDEMPOTENCY_HOURS": "3"}, "TAWA_WALLET_IDEMPOTENCY_HOURS must be at least 24"),
    ({"TAWA_WALLET_BODY_TIMEOUT": "0"}, "TAWA_WALLET_BODY_TIMEOUT must be a positive number"),
    ({"TAWA_WALLET_TOKEN": ""}, "TAWA_WALLET_TOKEN is not set: refusing to start a wallet anyone could spend "
                                "from; set TAWA_WALLET_TOKEN, or pass --insecure-no-auth for a throwaway local wallet"),
])
def test_wallet_settings_errors_are_the_lines_users_know(config: Path, monkeypatch: pytest.MonkeyPatch,
                                                         env: dict[str, str], message: str) -> None:
    monkeypatch.setenv("TAWA_WALLET_TOKEN", "admin")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError) as raised:
        ServerSettings.from_env()
    assert str(raised.value) == message


def test_wallet_settings_read_the_environment_as_before(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"TAWA_WALLET_TOKEN": "admin", "TAWA_WALLET_OPEN_READS": "Yes", "TAWA_WALLET_DOCS": "maybe",
           "TAWA_WALLET_SWEEP_SECONDS": " ", "TAWA_WALLET_MAX_BODY_BYTES": "2048.7", "TAWA_WALLET_OPERATOR_TOKEN": "",
           "TAWA_WALLET_DATABASE_URL": "", "TAWA_DATA_DIR": ""}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = ServerSettings.from_env(database_url=None)
    assert settings.open_reads and not settings.docs and settings.sweep_seconds == 5.0
    assert settings.max_body_bytes == 2048 and settings.operator_token is None
    assert settings.database_url == f"sqlite:///{defaults.data_dir() / 'wallet.db'}"
    assert ServerSettings.from_env(database_url="sqlite:///x.db").database_url == "sqlite:///x.db"


def test_cli_flags_default_to_the_settings(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tawa.cli import catalog, wallet

    def wallet_url(*args: str) -> str:
        return str(wallet.group.make_context("wallet", [*args, "balance"]).params["wallet_url"])

    def env(*args: str) -> str:
        return str(catalog.env.make_context("env", [*args, "f.yaml"]).params["env_name"])

    assert (wallet_url(), env()) == (defaults.WALLET_URL, "prod")
    config.write_text("wallet-url: http://file:1\nenv: staging\n")
    assert (wallet_url(), env()) == ("http://file:1", "staging")
    monkeypatch.setenv("TAWA_WALLET_URL", "http://env:2")
    monkeypatch.setenv("TAWA_ENV", "dev")
    assert (wallet_url(), env()) == ("http://env:2", "dev")
    assert (wallet_url("--wallet-url", "http://flag:3"), env("--env", "prod")) == ("http://flag:3", "prod")
