"""`tawa console`: the Developer Console, a web page per org over the wallet (docs/console.md)."""

from __future__ import annotations

from typing import Any

import click

from tawa.console.settings import CONSOLE_PORT


@click.group(name="console")
def group() -> None:
    """The Developer Console: balances, ledger, buying tokens, org keys, bill grants and Components, in a browser."""


@group.command()
@click.option("--port", type=int, default=None, help=f"Port to listen on [TAWA_CONSOLE_PORT, default {CONSOLE_PORT}].")
@click.option("--host", default=None, help="Address to listen on [TAWA_CONSOLE_HOST, default 127.0.0.1].")
@click.option("--wallet-url", default=None, help="The wallet it calls with the logged-in org key "
              "[TAWA_CONSOLE_WALLET_URL, default http://127.0.0.1:8081].")
@click.option("--secure-cookies/--no-secure-cookies", default=None,
              help="Send the session cookie over HTTPS only: set it when served behind TLS "
                   "[TAWA_CONSOLE_SECURE_COOKIES, default off].")
@click.option("--kubeconfig", default=None, help="The cluster the Components page reads, read-only; \"\" for "
              "KUBECONFIG or in-cluster [TAWA_CONSOLE_KUBECONFIG, default: not connected].")
def serve(port: int | None, host: str | None, wallet_url: str | None, secure_cookies: bool | None,
          kubeconfig: str | None) -> None:
    """Run the console. It holds no wallet credential: every wallet call uses the logged-in org key.
    With --kubeconfig its Components page reads the cluster (read-only)."""
    import uvicorn

    from tawa.console.app import create_app
    from tawa.console.settings import ConsoleSettings

    flags: dict[str, Any] = {"port": port, "host": host, "wallet_url": wallet_url, "secure_cookies": secure_cookies,
                             "kubeconfig": kubeconfig}
    settings = ConsoleSettings(**{k: v for k, v in flags.items() if v is not None})
    click.echo(f"console listening on http://{settings.host}:{settings.port} (wallet {settings.wallet_url})",
               err=True)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning",
                server_header=False)
