"""The operator's Prometheus metrics (served by `tawa operator run --metrics-port`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

COMPONENT = ["namespace", "component", "org"]

gate_decisions = Counter("tawa_gate_decisions", "Deploy-gate decisions by reason", ["reason"])
gate_open = Gauge("tawa_component_gate_open", "1 while the Component's deploy gate is open, else 0", COMPONENT)
hosting_tokens = Counter("tawa_hosting_tokens", "Hosting tokens charged by this replica (not the wallet's "
                         "replays of a charge another replica or an earlier run made)", ["tier", "org"])
hosting_unpaid = Gauge("tawa_hosting_unpaid_tokens", "Hosting tokens the wallet could not cover", COMPONENT)
gas_exhausted = Gauge("tawa_component_gas_exhausted", "1 while hosting charges go unpaid, else 0", COMPONENT)
runway_hours = Gauge("tawa_org_runway_hours", "Hours the org's hosting balance lasts at its current burn", ["org"])
suspended = Gauge("tawa_component_suspended",
                  "1 while the Component is scaled to 0 for unpaid hosting (suspendAfter), else 0", COMPONENT)
