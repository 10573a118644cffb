"""One settings story: every settings class reads, in this order, its init arguments (the
command's flags), the environment, the config file, then its defaults.

The config file is `$TAWA_CONFIG`, else `~/.config/tawa/config.yaml`, a mapping such as:

    wallet-url: https://wallet.example.internal
    wallet-token: …
    env: prod
    kubeconfig: ~/.kube/tawa

Each key stands for its environment variable (KEYS) and is read as if it were set, below the
real environment: so every program and client started with it sees the same values, and
nothing is written into `os.environ`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from tawa import defaults

KEYS = {"wallet-url": "TAWA_WALLET_URL", "wallet-token": "TAWA_WALLET_TOKEN", "janus-url": "TAWA_JANUS_URL",
        "env": "TAWA_ENV", "kubeconfig": "KUBECONFIG", "data-dir": "TAWA_DATA_DIR"}


class ConfigError(ValueError):
    pass


def config_path() -> Path:
    # The one environment read outside the settings classes: it says where their file is.
    return Path(os.environ.get("TAWA_CONFIG") or defaults.config_path())


def load_config(path: Path | None = None) -> dict[str, str]:
    """The config file as environment variables ({} without one), or ConfigError in one line."""
    path = path or config_path()
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{path}: cannot be read ({why}); point TAWA_CONFIG at a YAML file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping of settings ({', '.join(KEYS)})")
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown setting {unknown[0]!r}; known: {', '.join(KEYS)}")
    return {KEYS[k]: os.path.expanduser(str(v)) for k, v in data.items()}


class ConfigFileSource(EnvSettingsSource):
    """The config file's variables, matched to fields exactly as the environment's are."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name if self.case_sensitive else name.lower(): value for name, value in load_config().items()
                if not (self.env_ignore_empty and value == "")}


class TawaSettings(BaseSettings):
    """Base of every settings class: flags (init arguments) > environment > config file > defaults."""

    model_config = SettingsConfigDict(extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, ConfigFileSource(settings_cls)


# `data_dir` of every settings class: TAWA_DATA_DIR, else ~/.local/share/tawa.
DataDir = Annotated[Path, Field(default_factory=defaults.data_dir,
                                validation_alias=AliasChoices("TAWA_DATA_DIR", "data_dir"))]


class SharedSettings(TawaSettings):
    """What the command line, the wallet client and the dev stack read: the config file's keys
    (env, wallet URL and token, Janus URL, kubeconfig, data dir) and TAWA_ORG."""

    model_config = SettingsConfigDict(env_prefix="TAWA_", env_ignore_empty=True, frozen=True)

    wallet_url: str = defaults.WALLET_URL
    wallet_token: str | None = Field(None, repr=False)
    wallet_token_file: str | None = None  # a projected service-account token, re-read when it changes
    janus_url: str | None = None
    env: str = "prod"
    kubeconfig: str | None = Field(None, validation_alias=AliasChoices("KUBECONFIG", "kubeconfig"))
    data_dir: DataDir
    org: str | None = None
