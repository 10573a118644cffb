"""`tawa janus` commands: `serve` runs the gas-metering reverse proxy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from tawa.cli.output import EXIT_BAD_INPUT, fail


@click.group(name="janus")
def group() -> None:
    """Janus, the gas-metering reverse proxy."""


@group.command("serve")
@click.option("--host", help="Address to listen on [TAWA_JANUS_HOST, default 0.0.0.0].")
@click.option("--port", type=int, help="Port [TAWA_JANUS_PORT, default 3000].")
@click.option("--wallet-url", help="The wallet's base URL [TAWA_WALLET_URL]; its token comes from TAWA_WALLET_TOKEN.")
@click.option("--registry", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A YAML file of Component documents; without it, the cluster's Components.")
@click.option("--kubeconfig", help="Kubeconfig for the cluster registry and TokenReview (default: KUBECONFIG).")
@click.option("--env", "env_name", help="Environment name: with duplicates, prefer namespace {service}-{env}.")
@click.option("--workers", type=int, help="Worker processes sharing the port [TAWA_JANUS_WORKERS, default 1].")
@click.option("--platform-prices", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The platform price table for legacy services (default: the built-in one).")
@click.option("--registry-ttl", type=float, help="Seconds a service lookup is cached [default 60].")
@click.option("--upstream-timeout", type=float, help="Seconds to wait for an upstream → 504 [default 30].")
@click.option("--hold-ttl", type=int, help="Seconds a pre-authorised hold lives [default 120].")
@click.option("--fail-open-cap", type=int, help="Per-org unbilled tokens allowed while the wallet is down.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where the spool lives [TAWA_DATA_DIR].")
@click.option("--token-review/--no-token-review", default=None,
              help="Check Kubernetes service-account tokens (default: on with the cluster registry).")
@click.option("--log-level", help="debug, info, warning, error [default info].")
def serve(**flags: Any) -> None:
    """Run Janus: ANY /proxy/{service}/{path}, /healthz, /metrics.

    Service JWTs are checked with TAWA_JANUS_JWT_SECRET (HS256) or the keys at
    TAWA_JANUS_JWKS_URL (RS256/ES256), audience 'janus'. Every other setting has
    an environment variable TAWA_JANUS_<NAME>.
    """
    from tawa.janus.server import run
    from tawa.janus.settings import JanusSettings

    names = {"env_name": "env"}
    overrides = {names.get(k, k): v for k, v in flags.items() if v is not None}
    try:
        settings = JanusSettings(**overrides)
    except ValidationError as exc:
        fail("; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()),
             EXIT_BAD_INPUT)
    from tawa.janus.registry import FileSource, InvalidRegistry
    from tawa.kube import NoCluster

    try:
        if settings.registry:
            FileSource.opened(settings.registry)  # in this process: the workers' errors would not reach the shell
        run(settings)
    except NoCluster as exc:
        fail(f"{exc}; or pass --registry FILE for a file of Component documents", EXIT_BAD_INPUT)
    except InvalidRegistry as exc:
        fail(str(exc), EXIT_BAD_INPUT)
