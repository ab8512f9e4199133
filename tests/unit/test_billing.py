"""The cost meter's pure parts: metering as SageMaker bills, the price table, provisioned
concurrency over time (fake clock) and the usage book over the real SQLite store."""

from __future__ import annotations

import math

import pytest
from fake_clock import FakeClock

from serverless_ray.billing.book import UsageBook
from serverless_ray.billing.meter import billed_seconds, invocation_usage, price, provisioned_usage
from serverless_ray.billing.prices import GB, Component, PriceTable, PriceTableError
from serverless_ray.billing.provisioned import Level, ProvisionedMeter
from serverless_ray.billing.usage import Usage, UsageKey, UsageRow, add_up, bucket_of, by_variant
from serverless_ray.store import Store

PC_PRICES = """
region = "us-east-1"
as_of = "2024-01-01"
source = "test"
data_processing_per_gb = 0.016
[on_demand_per_second]
1024 = 0.00002
2048 = 0.00004
[provisioned_per_second]
2048 = 0.0000096
[provisioned_compute_per_second]
2048 = 0.000028
"""


def test_duration_is_billed_by_the_millisecond_rounded_up():
    assert billed_seconds(0.1) == 0.1  # 100.00000000000001 ms in binary is still 100 ms
    assert billed_seconds(0.1001) == 0.101
    assert billed_seconds(1.0) == 1.0
    assert billed_seconds(0.0) == 0.0
    assert billed_seconds(0.0000001) == 0.001


def test_an_invocation_uses_memory_times_duration_and_its_bytes():
    usage = invocation_usage(2048, 0.25, 1000)
    assert (usage.invocations, usage.gb_seconds, usage.processed_bytes) == (1, 0.5, 1000)
    assert usage.provisioned_compute_gb_seconds == 0.0
    on_pc = invocation_usage(3072, 1.0, 0, on_provisioned=True)
    assert on_pc.gb_seconds == on_pc.provisioned_compute_gb_seconds == 3.0
    assert provisioned_usage(2048, 3, 60.0).provisioned_gb_seconds == 360.0


def test_the_default_table_prices_on_demand_compute_and_data_and_says_what_it_leaves_out():
    prices = PriceTable.load()
    assert prices.region == "us-east-1" and prices.as_of and "cost_constants.py" in prices.source
    assert prices.on_demand_per_second == {1024: 0.00002, 2048: 0.00004, 3072: 0.00006, 4096: 0.00008,
                                           5120: 0.0001, 6144: 0.00012}
    assert prices.data_processing_per_gb == 0.016
    assert prices.provisioned_per_second == {} and prices.provisioned_compute_per_second == {}
    assert "no primary source" in prices.note
    assert prices.priced() == [Component.COMPUTE, Component.DATA_PROCESSING]
    assert set(prices.unpriced()) == {Component.PROVISIONED_COMPUTE, Component.PROVISIONED_CONCURRENCY}
    assert math.isclose(prices.compute_per_gb_second(4096), 0.00002)


def test_price_arithmetic():
    prices = PriceTable.model_validate({**PriceTable.load().model_dump(), "provisioned_per_second": {2048: 0.0000096},
                                        "provisioned_compute_per_second": {2048: 0.000028}})
    usage = invocation_usage(2048, 2.0, GB // 2) + invocation_usage(2048, 1.0, 0, on_provisioned=True) \
        + provisioned_usage(2048, 1, 100.0)
    costs = price(usage, 2048, prices).costs()
    assert math.isclose(costs[Component.COMPUTE], 4.0 * 0.00002)  # 4 GB-s on demand at $0.00004/s per 2 GB
    assert math.isclose(costs[Component.PROVISIONED_COMPUTE], 2.0 * 0.000014)
    assert math.isclose(costs[Component.DATA_PROCESSING], 0.008)
    assert math.isclose(costs[Component.PROVISIONED_CONCURRENCY], 200.0 * 0.0000048)
    unpriced = price(usage, 2048, PriceTable.load()).costs()
    assert unpriced[Component.PROVISIONED_CONCURRENCY] == unpriced[Component.PROVISIONED_COMPUTE] == 0.0


def test_a_price_file_overrides_and_bad_ones_say_where(tmp_path):
    good = tmp_path / "prices.toml"
    good.write_text(PC_PRICES)
    table = PriceTable.load(good)
    assert table.provisioned_per_gb_second(2048) == pytest.approx(0.0000048)
    assert table.compute_per_gb_second(2048, provisioned=True) == pytest.approx(0.000014)
    assert table.compute_per_gb_second(3072) is None
    for text, expected in [
        ("not = [toml", "is not valid TOML"),
        (PC_PRICES.replace("1024 = 0.00002", "1000 = 0.00002"), "on_demand_per_second: Value error, memory size 1000"),
        (PC_PRICES.replace('source = "test"', ""), "source: Field required"),
        (PC_PRICES.replace("0.016", "-1"), "data_processing_per_gb"),
    ]:
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(PriceTableError, match=expected):
            PriceTable.load(bad)
    with pytest.raises(PriceTableError, match="cannot read the price file"):
        PriceTable.load(tmp_path / "missing.toml")


def test_provisioned_concurrency_accrues_at_the_level_seen_until_the_next_tick():
    meter, key = ProvisionedMeter(max_step_s=60.0), ("ep", "AllTraffic")
    assert meter.observe({key: Level(2048, 2)}, now=100.0) == {}  # nothing before the first tick
    used = meter.observe({key: Level(2048, 1)}, now=110.0)  # 10 s at 2 units of 2 GB
    assert used == {UsageKey("ep", "AllTraffic", 2048): Usage(provisioned_gb_seconds=40.0)}
    used = meter.observe({key: Level(2048, 0)}, now=115.0)  # 5 s at 1 unit
    assert used[UsageKey("ep", "AllTraffic", 2048)].provisioned_gb_seconds == 10.0
    assert meter.observe({key: Level(2048, 3)}, now=200.0) == {}  # nothing was provisioned meanwhile
    stalled = meter.observe({}, now=500.0)  # a tick 300 s late bills at most max_step_s
    assert stalled[UsageKey("ep", "AllTraffic", 2048)].provisioned_gb_seconds == 3 * 2 * 60.0


def test_usage_adds_up_per_bucket_key_and_variant():
    key = UsageKey("ep", "v", 1024)
    rows = [UsageRow(60, key, invocation_usage(1024, 1.0, 10)), UsageRow(60, key, invocation_usage(1024, 2.0, 5)),
            UsageRow(120, key, invocation_usage(1024, 1.0, 1))]
    merged = add_up(rows)
    assert [(r.bucket, r.usage.invocations, r.usage.gb_seconds) for r in merged] == [(60, 2, 3.0), (120, 1, 1.0)]
    assert bucket_of(119.9) == 60 and bucket_of(120.0) == 120
    both = by_variant({key: Usage(invocations=1), UsageKey("ep", "v", 2048): Usage(invocations=2)})
    assert both == {("ep", "v"): Usage(invocations=3)}


def test_the_book_prices_commits_and_keeps_usage_across_a_restart(tmp_path):
    wall, mono = FakeClock(1_000_020.0), FakeClock(50.0)
    store = Store(tmp_path / "state.sqlite3")
    book = UsageBook(store.usage, PriceTable.load(), wall_clock=wall, monotonic=mono, provisioned_commit_s=5.0)
    key = UsageKey("ep", "AllTraffic", 2048)
    book.record([UsageRow(bucket_of(wall()), key, invocation_usage(2048, 0.5, 2048))] * 3)
    total = book.totals()[key]
    assert (total.invocations, total.gb_seconds, total.processed_bytes) == (3, 3.0, 6144)
    assert total.cost_compute == pytest.approx(3.0 * 0.00002)
    assert total.cost_data_processing == pytest.approx(6144 * 0.016 / GB)

    # Provisioned usage is committed every 5 s (and at shutdown), and counted only then.
    book.observe_provisioned({("ep", "AllTraffic"): Level(2048, 1)})
    mono.advance(3.0)
    book.observe_provisioned({("ep", "AllTraffic"): Level(2048, 1)})
    assert book.totals()[key].provisioned_gb_seconds == 0.0
    mono.advance(3.0)
    book.observe_provisioned({("ep", "AllTraffic"): Level(2048, 1)})
    assert book.totals()[key].provisioned_gb_seconds == pytest.approx(12.0)
    mono.advance(1.0)
    book.observe_provisioned({})
    book.flush()
    before = book.totals()
    store.close()

    reopened = Store(tmp_path / "state.sqlite3")
    again = UsageBook(reopened.usage, PriceTable.load(), wall_clock=wall, monotonic=mono)
    assert again.totals() == before
    assert again.totals()[key].provisioned_gb_seconds == pytest.approx(14.0)
    wall.advance(600.0)
    assert again.since(wall() - 60) == {}
    assert again.since(wall() - 700)[key].invocations == 3
    reopened.close()


def test_compacting_old_minutes_into_hours_keeps_the_totals(tmp_path):
    store = Store(tmp_path / "state.sqlite3")
    key = UsageKey("ep", "AllTraffic", 1024)
    store.usage.add_usage([UsageRow(minute * 60, key, invocation_usage(1024, 1.0, 1)) for minute in range(150)])
    totals = store.usage.usage_totals()
    store.usage.compact(before=7200)
    assert store.usage.usage_totals() == totals
    assert [r.bucket for r in store.usage.rows()][:3] == [0, 3600, 7200]
    assert len(store.usage.rows()) == 2 + 30
    store.usage.compact(before=7200)  # again: nothing changes
    assert store.usage.usage_totals() == totals
    with pytest.raises(ValueError):
        store.usage.compact(before=100)
    store.close()
