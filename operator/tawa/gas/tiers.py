"""Pod tiers and the hosting-gas maths (pure).

The spec's prose says "rate × 730 hours = 3-month reserve", but 730 hours is one
month; its tables are three months, and the tables win (see docs/design.md).
"""

from __future__ import annotations

from dataclasses import dataclass

HOURS_PER_MONTH = 730
RESERVE_MONTHS = 3
DEFAULT_TIER = "nano"


@dataclass(frozen=True)
class PodTier:
    name: str
    memory: str
    tokens_per_hour: int

    @property
    def tokens_per_month(self) -> int:
        return self.tokens_per_hour * HOURS_PER_MONTH

    def reserve(self, replicas: int = 1) -> int:
        """Tokens the deploy gate requires: three months of hosting for every replica."""
        return self.tokens_per_month * RESERVE_MONTHS * replicas


TIERS: dict[str, PodTier] = {
    t.name: t
    for t in (
        PodTier("nano", "256Mi", 5),
        PodTier("small", "512Mi", 10),
        PodTier("medium", "1Gi", 23),
        PodTier("large", "2Gi", 42),
        PodTier("xlarge", "4Gi", 83),
    )
}


class UnknownTier(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown pod tier {name!r}: use one of {', '.join(TIERS)}")
        self.name = name


def get_tier(name: str | None) -> PodTier:
    tier = TIERS.get(name or DEFAULT_TIER)
    if tier is None:
        raise UnknownTier(str(name))
    return tier
