"""The pure replica policy: keep-warm window and desired replica count."""

import pytest

from serverless_ray.autoscaling.policy import WarmWindow, desired_replicas


def test_empty_window_holds_nothing():
    assert WarmWindow().warm_level(now=0.0, keep_warm_s=60) == 0


@pytest.mark.parametrize("demand", [0, -1])
def test_no_demand_is_not_recorded(demand):
    window = WarmWindow()
    window.observe(demand, now=5.0)
    assert window.last_seen == []


def test_observe_records_every_level_up_to_demand():
    window = WarmWindow()
    window.observe(3, now=10.0)
    assert window.last_seen == [10.0, 10.0, 10.0]


def test_lower_demand_refreshes_only_lower_levels():
    window = WarmWindow()
    window.observe(3, now=10.0)
    window.observe(1, now=20.0)
    assert window.last_seen == [20.0, 10.0, 10.0]


def test_warm_level_is_highest_level_seen_within_window():
    window = WarmWindow()
    window.observe(3, now=10.0)
    window.observe(1, now=20.0)
    assert window.warm_level(now=25.0, keep_warm_s=30) == 3
    assert window.warm_level(now=39.9, keep_warm_s=30) == 3
    # level 3 was last needed at 10: 30 s later it is released, level 1 (seen at 20) remains
    assert window.warm_level(now=40.0, keep_warm_s=30) == 1
    assert window.warm_level(now=49.9, keep_warm_s=30) == 1
    assert window.warm_level(now=50.0, keep_warm_s=30) == 0


def test_zero_keep_warm_holds_nothing():
    window = WarmWindow()
    window.observe(2, now=1.0)
    assert window.warm_level(now=1.0, keep_warm_s=0) == 0


def test_forget_above_drops_higher_levels():
    window = WarmWindow()
    window.observe(5, now=1.0)
    window.forget_above(2)
    assert window.last_seen == [1.0, 1.0]
    assert window.warm_level(now=2.0, keep_warm_s=60) == 2


@pytest.mark.parametrize(
    "demand, warm_level, floor, cap, expected",
    [
        (0, 0, 0, 10, 0),    # idle, nothing provisioned: scale to zero
        (1, 0, 0, 10, 1),    # first request from zero
        (3, 0, 0, 10, 3),    # one replica per in-flight invocation
        (0, 4, 0, 10, 4),    # keep-warm holds what was needed recently
        (2, 4, 0, 10, 4),
        (5, 4, 0, 10, 5),
        (0, 0, 2, 10, 2),    # provisioned floor
        (1, 1, 2, 10, 2),
        (50, 0, 0, 10, 10),  # capped at MaxConcurrency
        (0, 30, 0, 10, 10),
        (0, 0, 5, 3, 3),     # the cap wins over a floor above it
        (-4, 0, 0, 10, 0),
    ],
)
def test_desired_replicas(demand, warm_level, floor, cap, expected):
    assert desired_replicas(demand=demand, warm_level=warm_level, floor=floor, cap=cap) == expected
