"""Pod tiers, the 3-month reserve, the price cascade and hosting buckets."""

from __future__ import annotations

import pytest

from tawa.controller.hosting import bucket_id, buckets_due, idempotency_key, parse_bucket_id
from tawa.gas.platform import load_platform_table
from tawa.gas.pricing import PricedRoute, price_request
from tawa.gas.report import pricing_report
from tawa.gas.tiers import TIERS, UnknownTier, get_tier


@pytest.mark.parametrize("tier, per_hour, per_month, reserve", [
    ("nano", 5, 3_650, 10_950), ("small", 10, 7_300, 21_900), ("medium", 23, 16_790, 50_370),
    ("large", 42, 30_660, 91_980), ("xlarge", 83, 60_590, 181_770)])
def test_tiers_match_the_spec_tables(tier: str, per_hour: int, per_month: int, reserve: int) -> None:
    t = get_tier(tier)
    assert (t.tokens_per_hour, t.tokens_per_month, t.reserve()) == (per_hour, per_month, reserve)


def test_intro_grant_covers_nano_and_small_and_is_370_short_for_medium() -> None:
    assert [name for name, t in TIERS.items() if t.reserve() <= 50_000] == ["nano", "small"]
    assert get_tier("medium").reserve() - 50_000 == 370


def test_reserve_scales_with_replicas_and_default_tier_is_nano() -> None:
    assert get_tier("small").reserve(3) == 65_700
    assert get_tier(None).name == "nano"
    with pytest.raises(UnknownTier, match="use one of nano, small, medium, large, xlarge"):
        get_tier("huge")


ROUTES = [PricedRoute("/templates/pdf", ("GET", "POST"), "service", 1),
          PricedRoute("/documents", ("GET", "POST"), "service", 5),
          PricedRoute("/documents/archive", ("POST",), "service", 9),
          PricedRoute("/d/:token", ("GET",), "public", 0),
          PricedRoute("/legacy", ("GET",), "service", None)]
PLATFORM = [PricedRoute("/legacy", ("GET",), "service", 2)]


@pytest.mark.parametrize("path, method, gas, source", [
    ("/documents", "POST", 5, "route"), ("/documents/123", "GET", 5, "route"),
    ("/documents/archive", "POST", 9, "route"), ("/documents/archive", "GET", 5, "route"),
    ("/documentsX", "GET", 1, "default"), ("/d/abc", "GET", 0, "route"), ("/d/abc", "HEAD", 0, "route"),
    ("/legacy/x", "GET", 2, "platform"), ("/unknown", "GET", 1, "default"), ("/documents", "DELETE", 1, "default")])
def test_price_cascade(path: str, method: str, gas: int, source: str) -> None:
    price = price_request(ROUTES, path, method, PLATFORM)
    assert (price.gas, price.source) == (gas, source)


def test_unmatched_requests_need_a_service_identity() -> None:
    assert price_request(ROUTES, "/d/abc", "GET").auth == "public"
    assert price_request(ROUTES, "/nowhere", "GET").auth == "service"


def test_default_platform_table_loads() -> None:
    assert load_platform_table()["legacy-quotes"][0].gas == 2


def test_pricing_report_shape() -> None:
    report = pricing_report("docman", get_tier("small"), 2, ROUTES[:2])
    assert report == {"service": "docman",
                      "hosting": {"tier": "small", "replicas": 2, "tokensPerHour": 20, "tokensPerMonth": 14_600,
                                  "reserve": 43_800},
                      "routes": [{"path": "/templates/pdf", "methods": ["GET", "POST"], "auth": "service", "gas": 1,
                                  "source": "route"},
                                 {"path": "/documents", "methods": ["GET", "POST"], "auth": "service", "gas": 5,
                                  "source": "route"}]}


def test_first_tick_charges_the_current_bucket() -> None:
    assert buckets_due(None, 7_200 + 1_800, 3_600) == ["1970-01-01T02:00:00Z"]


def test_catch_up_charges_each_missed_bucket_once_and_at_most_the_limit() -> None:
    last = bucket_id(0)
    assert buckets_due(last, 3 * 3_600 + 5, 3_600) == [bucket_id(3_600 * i) for i in (1, 2, 3)]
    assert buckets_due(last, 100 * 3_600, 3_600, limit=24) == [bucket_id(3_600 * i) for i in range(77, 101)]
    assert buckets_due(bucket_id(7_200), 7_200 + 10, 3_600) == []


def test_bucket_ids_round_trip_and_keys_name_the_component() -> None:
    for start in (0.0, 1_795_000_000.0, 1_795_000_000.5):
        assert parse_bucket_id(bucket_id(start)) == start
    assert idempotency_key("uid-1", "2026-11-24T05:00:00Z") == "hosting/uid-1/2026-11-24T05:00:00Z"
