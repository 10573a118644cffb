"""The deploy gate's verdicts and the messages a service owner reads (pure)."""

from __future__ import annotations

from tawa.catalog.validate import Component
from tawa.controller.conditions import Condition
from tawa.resource import TIER_ANNOTATION

GATE = "DeployGate"


def _t(n: int) -> str:
    return f"{n:,}"


def covered(wallet: str, balance: int, required: int) -> Condition:
    return Condition(GATE, True, "ReserveCovered",
                     f"{wallet} holds {_t(balance)} tokens, covering the 3-month reserve of {_t(required)}")


def nothing_to_reserve(wallet: str) -> Condition:
    """Scaled to 0 replicas: no pods, no hosting, nothing to hold back."""
    return Condition(GATE, True, "ReserveCovered", f"0 replicas: no reserve is needed from {wallet}")


def insufficient_reserve(component: Component, wallet: str, balance: int, required: int, shortfall: int) -> Condition:
    tier, replicas = component.tier, component.spec.replicas
    return Condition(GATE, False, "InsufficientReserve", (
        f"deploy blocked: {wallet} holds {_t(balance)} tokens but {replicas} × {tier.name} pod(s) "
        f"({tier.tokens_per_hour}/hour each) need a 3-month reserve of {_t(required)}; {_t(shortfall)} short. "
        f"Buy at least {_t(shortfall)} tokens (tawa wallet buy {component.spec.owner} {shortfall}) "
        f"or lower metadata.annotations[\"{TIER_ANNOTATION}\"]; the gate reopens by itself once covered"))


def wallet_not_found(component: Component, wallet: str) -> Condition:
    return Condition(GATE, False, "WalletNotFound", (
        f"deploy blocked: no wallet {wallet} for owner {component.spec.owner!r}; check spec.owner, "
        "or register the org so its wallet is created; retrying"))


def wallet_unavailable(wallet: str, error: str) -> Condition:
    return Condition(GATE, False, "WalletUnavailable", (
        f"deploy blocked: the wallet service could not be reached to check {wallet} ({error}); "
        "deploys fail closed until it answers; retrying"))


def not_checked() -> Condition:
    """An invalid spec is never checked against the wallet: the gate stays shut."""
    return Condition(GATE, False, "InvalidSpec", "not checked: the spec is invalid (see the Valid condition)")


CLOSED_REASONS = frozenset({"InsufficientReserve", "WalletNotFound", "WalletUnavailable"})


def still_closed(reason: str, checked_balance: int | None, balance: int | None) -> bool:
    """Whether a closed gate's reason still holds, from the owner's wallet now
    (`balance` None: the org has no wallet). An InsufficientReserve verdict stands
    while the balance is the one it was decided on; any change (a purchase, a charge)
    is checked again, as is a verdict this process did not make (`checked_balance` None)."""
    if reason == "WalletNotFound":
        return balance is None
    if reason == "InsufficientReserve":
        return balance is not None and balance == checked_balance
    return False  # WalletUnavailable: the wallet has answered


def retry_delay(retry: int, cap: float) -> float:
    """Exponential backoff from 1 s, capped: how long the gate watcher leaves an
    org's wallet alone after it could not be reached."""
    return float(min(cap, 2 ** min(retry, 16)))
