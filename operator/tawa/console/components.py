"""The Components page: the logged-in org's Components in every namespace, read from the cluster.

The console reads with its own read-only credential, which sees every org's Components: keeping
to the session's org (spec.owner) is this module's job, not the cluster's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from tawa.catalog.problems import CatalogError
from tawa.catalog.validate import check_component
from tawa.console import pages
from tawa.console.pages import e, n
from tawa.console.sessions import Session
from tawa.gas.platform import load_platform_table
from tawa.gas.report import component_row, pricing_report
from tawa.kube import NoCluster, api_client
from tawa.kube.components import org_components
from tawa.resource import condition

NOT_CONNECTED = ("This console is not connected to a cluster: start it with --kubeconfig FILE "
                 "(TAWA_CONSOLE_KUBECONFIG), or --kubeconfig \"\" inside the cluster.")


def read(kubeconfig: str | None, org: str) -> list[dict[str, Any]] | str:
    """The org's Components, or why they cannot be read (blocking: run it in a thread)."""
    if kubeconfig is None:
        return NOT_CONNECTED
    try:
        api = api_client(kubeconfig)
    except NoCluster as exc:
        return f"The cluster cannot be reached: {exc}."
    try:
        return org_components(api, org)
    except ApiException as exc:
        return f"The cluster refused to list Components ({exc.status} {exc.reason})."
    except (HTTPError, OSError) as exc:
        return f"The cluster cannot be reached ({type(exc).__name__}); try again shortly."
    finally:
        api.close()


def page(session: Session, found: list[dict[str, Any]] | str) -> str:
    if isinstance(found, str):
        return pages.page("Components", "", session, found)
    head = ("Namespace", "Name", "Tier", "Replicas", "Deploy gate", "Ready pods", "Tokens/hour", "Hosting")
    found = sorted(found, key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))
    rows = [summary(obj) for obj in found]
    body = ('<section id="components"><p class="hint">Your org\'s Components in every namespace. Tokens/hour: '
            "Ready pods × the tier they run.</p>" + pages.table(head, rows, "No Components owned by this org.")
            + "".join(prices(obj) for obj in found) + "</section>")
    return pages.page("Components", body, session)


def summary(obj: dict[str, Any]) -> list[str]:
    row, status = component_row(obj), obj.get("status") or {}
    return [e(row["namespace"]), e(row["name"]), e(row["tier"] or "—"), e((obj.get("spec") or {}).get("replicas", 1)),
            gate(condition(status, "DeployGate")), e(row["ready"]), n(row["tokensPerHour"]), hosting(status)]


def gate(found: Mapping[str, Any] | None) -> str:
    if found is None:
        return "not checked yet"
    if found.get("status") == "True":
        return '<span class="ok">open</span>'
    return (f'<span class="error">closed: {e(found.get("reason", ""))}</span>'
            f'<p class="reason">{e(found.get("message", ""))}</p>')  # the gate's own message says what to do


def hosting(status: Mapping[str, Any]) -> str:
    exhausted = (condition(status, "GasExhausted") or {}).get("status") == "True"
    suspended = bool((status.get("suspended") or {}).get("pods"))
    notes = [label for label, on in (("GasExhausted", exhausted), ("Suspended", suspended)) if on]
    return f'<span class="error">{e(", ".join(notes))}</span>' if notes else "paid"


def prices(obj: dict[str, Any]) -> str:
    """The `tawa gas pricing` view of one Component: hosting and each route's gas."""
    meta = obj["metadata"]
    title = f'<h2>{e(meta["namespace"])}/{e(meta["name"])}: route prices</h2>'
    try:
        component = check_component(meta["name"], meta.get("annotations") or {}, obj.get("spec") or {},
                                    meta.get("namespace"))
    except CatalogError as exc:
        return f'{title}<p class="error">Not priced: the spec is invalid ({e(exc)}).</p>'
    report = pricing_report(component.name, component.tier, component.spec.replicas, component.priced_routes(),
                            load_platform_table().get(component.name, ()))
    rows = [[e(r["path"]), e(",".join(r["methods"]) or "*"), e(r["auth"]), n(r["gas"]), e(r["source"])]
            for r in report["routes"]]
    return title + pages.table(("Path", "Methods", "Auth", "Gas (tokens)", "Source"), rows,
                               "No routes declared: every call through Janus costs the default 1 token.")
