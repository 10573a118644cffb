"""Defaults shared by the programs, their settings and the wallet's domain: defined once here.

Pure: no I/O, no environment reads (the settings classes read TAWA_DATA_DIR and the rest).
"""

from __future__ import annotations

from pathlib import Path

WALLET_PORT = 8081
WALLET_URL = f"http://127.0.0.1:{WALLET_PORT}"

INTRO_GRANT = 50_000  # tokens every new wallet starts with
MAX_TOKENS = 2**53  # the most tokens one amount or wallet holds: the largest integer every JSON reader keeps exact


def data_dir() -> Path:
    """Where local state lives unless TAWA_DATA_DIR says otherwise: ~/.local/share/tawa."""
    return Path.home() / ".local" / "share" / "tawa"


def config_path() -> Path:
    """The config file unless TAWA_CONFIG says otherwise: ~/.config/tawa/config.yaml."""
    return Path.home() / ".config" / "tawa" / "config.yaml"
