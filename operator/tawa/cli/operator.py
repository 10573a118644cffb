"""`tawa operator run`: the kopf operator for Component resources."""

from __future__ import annotations

import click


@click.group(name="operator")
def group() -> None:
    """The Component operator."""


def _limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each thread that allocates its own arena; with kopf's worker
    threads that multiplies resident memory. Two arenas keep the operator lean."""
    import ctypes

    M_ARENA_MAX = -8
    try:
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, arenas)
    except OSError:
        pass  # not glibc: nothing to tune


@group.command()
@click.option("--namespace", "namespaces", multiple=True, help="Watch only these namespaces (default: all).")
@click.option("--liveness", default=None, help="Liveness endpoint, e.g. http://0.0.0.0:8080/healthz.")
@click.option("--peering", default=None, help="kopf peering name for HA (default: standalone).")
@click.option("--priority", type=int, default=0, help="kopf peering priority of this replica.")
@click.option("--metrics-port", type=int, default=None, envvar="TAWA_OPERATOR_METRICS_PORT",
              help="Serve Prometheus metrics on this port.")
@click.option("-v", "--verbose", is_flag=True, help="Log every handler run (default: warnings and errors).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              envvar="TAWA_LOG_FORMAT",
              help="json: one JSON object per line, naming the Component or Deployment it concerns.")
def run(namespaces: tuple[str, ...], liveness: str | None, peering: str | None, priority: int,
        metrics_port: int | None, verbose: bool, log_format: str) -> None:
    """Run the operator. Settings: TAWA_ENV, TAWA_WALLET_URL, TAWA_WALLET_TOKEN, TAWA_HOSTING_PERIOD,
    TAWA_GATE_POLL_INTERVAL (seconds between wallet reads for closed deploy gates, default 2),
    TAWA_GATE_RETRY_MAX (cap of their backoff while the wallet is unreachable), TAWA_PLATFORM_SERVICES,
    TAWA_SUSPEND_AFTER (seconds of unpaid hosting before a Component is scaled to 0 until paid; 0, the
    default, never)."""
    import kopf
    from prometheus_client import start_http_server

    _limit_malloc_arenas()

    import tawa.controller.billing  # noqa: F401  (registers the hosting loop)
    import tawa.controller.gatewatch  # noqa: F401  (re-checks closed deploy gates)
    import tawa.controller.handlers  # noqa: F401  (registers the handlers)
    import tawa.controller.login  # noqa: F401  (registers kopf's session)
    from tawa.controller.context import OperatorContext, memo_for
    from tawa.controller.settings import OperatorSettings

    context = OperatorContext.from_settings(OperatorSettings(), namespaces)

    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.JSON if log_format == "json" else kopf.LogFormat.FULL)
    if metrics_port:
        start_http_server(metrics_port)
    kopf.run(
        clusterwide=not namespaces, namespaces=list(namespaces), liveness_endpoint=liveness,
        standalone=peering is None, peering_name=peering, priority=priority, memo=memo_for(context),
    )
