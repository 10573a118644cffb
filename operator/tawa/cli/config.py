"""The CLI's config file: defaults for settings that flags and environment
variables override (flags > environment > file).

`$TAWA_CONFIG`, else `~/.config/tawa/config.yaml`, a mapping such as:

    wallet-url: https://wallet.example.internal
    wallet-token: …
    env: prod
    kubeconfig: ~/.kube/tawa

Each key becomes its TAWA_* variable (kubeconfig → KUBECONFIG) unless the
environment already sets it, so every program and client reads one place.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

KEYS = {"wallet-url": "TAWA_WALLET_URL", "wallet-token": "TAWA_WALLET_TOKEN", "janus-url": "TAWA_JANUS_URL",
        "env": "TAWA_ENV", "kubeconfig": "KUBECONFIG", "data-dir": "TAWA_DATA_DIR"}


class ConfigError(ValueError):
    pass


def config_path() -> Path:
    return Path(os.environ.get("TAWA_CONFIG") or Path.home() / ".config" / "tawa" / "config.yaml")


def load_config(path: Path | None = None) -> dict[str, str]:
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


def apply_config(path: Path | None = None) -> None:
    """Fill in the environment from the config file, never overriding it."""
    for name, value in load_config(path).items():
        os.environ.setdefault(name, value)
