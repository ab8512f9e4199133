"""Autoscaler driven by demand reports and ticks, with a fake clock and a recording apply."""

import asyncio

import pytest
from fake_clock import FakeClock

from serverless_ray.autoscaling.scaler import Autoscaler, DemandReport

KEEP_WARM = 60.0
TTL = 10.0


class RecordingApply:
    """Records every (app_name, replicas) call; fails while ``failures`` is positive."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.failures = 0

    async def __call__(self, app_name: str, replicas: int) -> None:
        self.calls.append((app_name, replicas))
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("serve is unavailable")


@pytest.fixture
def clock():
    return FakeClock(1000.0)


@pytest.fixture
def apply():
    return RecordingApply()


@pytest.fixture
def scaler(apply, clock):
    return Autoscaler(apply, keep_warm_s=KEEP_WARM, report_ttl_s=TTL, clock=clock)


def report(scaler, gateway, endpoint, in_flight, peak=None):
    peak = in_flight if peak is None else peak
    asyncio.run(scaler.report(gateway, {endpoint: DemandReport(in_flight=in_flight, peak=peak)}))


def tick(scaler):
    asyncio.run(scaler.tick())


def test_first_report_scales_from_zero_immediately(scaler, apply):
    scaler.track("ep", app_name="app-1", floor=0, cap=10, running=0)
    report(scaler, "gw", "ep", 1)
    assert apply.calls == [("app-1", 1)]
    assert scaler.target("ep") == 1


def test_report_scales_to_the_peak(scaler, apply):
    scaler.track("ep", app_name="app-1", floor=0, cap=10, running=0)
    report(scaler, "gw", "ep", in_flight=0, peak=4)
    assert apply.calls == [("app-1", 4)]
    assert scaler.demand("ep") == 0


def test_unchanged_target_is_not_reapplied(scaler, apply):
    scaler.track("ep", app_name="app", floor=0, cap=10, running=0)
    report(scaler, "gw", "ep", 2)
    report(scaler, "gw", "ep", 2)
    tick(scaler)
    assert apply.calls == [("app", 2)]


def test_endpoint_names_are_case_insensitive(scaler, apply):
    scaler.track("MyEndpoint", app_name="app", floor=0, cap=10, running=0)
    report(scaler, "gw", "MYENDPOINT", 2)
    assert apply.calls == [("app", 2)]
    assert scaler.target("myendpoint") == 2
    assert scaler.demand("MyEndPoint") == 2


def test_reports_for_untracked_endpoints_are_ignored(scaler, apply):
    report(scaler, "gw", "unknown", 3)
    tick(scaler)
    assert apply.calls == []
    assert scaler.target("unknown") is None
    assert scaler.demand("unknown") == 0


def test_cap_is_never_exceeded(scaler, apply):
    scaler.track("ep", app_name="app", floor=0, cap=3, running=0)
    report(scaler, "gw-a", "ep", 5)
    report(scaler, "gw-b", "ep", 7)
    tick(scaler)
    assert apply.calls == [("app", 3)]
    assert scaler.target("ep") == 3


def test_floor_is_applied_and_never_undercut(scaler, apply, clock):
    scaler.track("ep", app_name="app", floor=2, cap=10, running=0)
    tick(scaler)
    assert apply.calls == [("app", 2)]
    report(scaler, "gw", "ep", 4)
    report(scaler, "gw", "ep", 0, peak=0)
    clock.advance(KEEP_WARM * 5)
    tick(scaler)
    assert apply.calls == [("app", 2), ("app", 4), ("app", 2)]
    assert min(n for _, n in apply.calls) == 2


def test_keep_warm_releases_replicas_only_after_the_window(scaler, apply, clock):
    scaler.track("ep", app_name="app", floor=0, cap=10, running=0)
    report(scaler, "gw", "ep", 3)
    report(scaler, "gw", "ep", 0, peak=0)   # the requests finished
    clock.advance(KEEP_WARM - 1)
    tick(scaler)
    assert scaler.target("ep") == 3
    clock.advance(1)
    tick(scaler)
    assert scaler.target("ep") == 0
    assert apply.calls == [("app", 3), ("app", 0)]


def test_keep_warm_steps_down_level_by_level(scaler, apply, clock):
    scaler.track("ep", app_name="app", floor=0, cap=10, running=0)
    report(scaler, "gw", "ep", 3)
    clock.advance(30)
    report(scaler, "gw", "ep", 1)           # demand fell to one in flight
    clock.advance(1)
    report(scaler, "gw", "ep", 0, peak=0)
    clock.advance(KEEP_WARM - 31)           # 60 s after the peak of three
    tick(scaler)
    assert scaler.target("ep") == 1
    clock.advance(31)                       # 60 s after the last single invocation
    tick(scaler)
    assert apply.calls == [("app", 3), ("app", 1), ("app", 0)]


def test_busy_endpoint_is_kept_while_demand_lasts(scaler, apply, clock):
    scaler.track("ep", app_name="app", floor=0, cap=10, running=0)
    for _ in range(5):
        report(scaler, "gw", "ep", 2)
        clock.advance(KEEP_WARM / 2)
        tick(scaler)
    assert apply.calls == [("app", 2)]


def test_reports_from_several_gateways_add_up(scaler, apply):
    scaler.track("ep", app_name="app", floor=0, cap=20, running=0)
    report(scaler, "gw-a", "ep", 2)
    report(scaler, "gw-b", "ep", 3)
    assert scaler.demand("ep") == 5
    assert apply.calls == [("app", 2), ("app", 5)]


def test_a_gateways_new_report_replaces_its_previous_one(scaler, apply):
    scaler.track("ep", app_name="app", floor=0, cap=20, running=0)
    report(scaler, "gw-a", "ep", 2)
    report(scaler, "gw-b", "ep", 3)
    report(scaler, "gw-a", "ep", 1)
    assert scaler.demand("ep") == 4


def test_peak_is_added_to_other_gateways_demand(scaler, apply):
    scaler.track("ep", app_name="app", floor=0, cap=20, running=0)
    report(scaler, "gw-a", "ep", 2)
    report(scaler, "gw-b", "ep", in_flight=0, peak=4)
    assert apply.calls[-1] == ("app", 6)


def test_stale_report_expires_after_ttl(scaler, clock):
    scaler.track("ep", app_name="app", floor=0, cap=20, running=0)
    report(scaler, "gw-a", "ep", 2)
    clock.advance(5)
    report(scaler, "gw-b", "ep", 3)
    clock.advance(TTL - 5)
    assert scaler.demand("ep") == 5         # gw-a's report is exactly TTL old: still live
    clock.advance(0.5)
    assert scaler.demand("ep") == 3         # gw-a stopped reporting
    clock.advance(5)
    assert scaler.demand("ep") == 0


def test_stale_report_stops_holding_replicas(scaler, apply, clock):
    scaler.track("ep", app_name="app", floor=0, cap=20, running=0)
    report(scaler, "gw", "ep", 2)           # then the gateway dies without a final report
    clock.advance(TTL + 1)
    tick(scaler)
    assert scaler.demand("ep") == 0
    assert scaler.target("ep") == 2         # still inside the keep-warm window
    clock.advance(KEEP_WARM)
    tick(scaler)
    assert apply.calls == [("app", 2), ("app", 0)]


def test_set_limits_raises_the_floor(scaler, apply):
    scaler.track("ep", app_name="app", floor=0, cap=10, running=0)
    scaler.set_limits("ep", floor=4)
    tick(scaler)
    assert apply.calls == [("app", 4)]


def test_set_limits_lowers_the_cap(scaler, apply):
    scaler.track("ep", app_name="app", floor=0, cap=10, running=0)
    report(scaler, "gw", "ep", 8)
    scaler.set_limits("ep", cap=3)
    tick(scaler)
    assert apply.calls == [("app", 8), ("app", 3)]


def test_lowered_cap_forgets_warm_levels_above_it(scaler, apply, clock):
    scaler.track("ep", app_name="app", floor=0, cap=10, running=0)
    report(scaler, "gw", "ep", 8)
    report(scaler, "gw", "ep", 0, peak=0)
    scaler.set_limits("ep", cap=3)
    scaler.set_limits("ep", cap=10)         # raising it again does not bring back the 8
    tick(scaler)
    assert apply.calls == [("app", 8), ("app", 3)]


def test_set_limits_for_untracked_endpoint_is_ignored(scaler, apply):
    scaler.set_limits("nothing", floor=3, cap=5)
    tick(scaler)
    assert apply.calls == []


def test_track_counts_running_replicas_as_warm(scaler, apply, clock):
    scaler.track("ep", app_name="app", floor=0, cap=10, running=2)
    assert scaler.target("ep") == 2
    clock.advance(KEEP_WARM - 1)
    tick(scaler)
    assert apply.calls == []
    clock.advance(1)
    tick(scaler)
    assert apply.calls == [("app", 0)]


def test_retracking_keeps_window_and_reports(scaler, apply, clock):
    scaler.track("ep", app_name="app-1", floor=0, cap=10, running=0)
    report(scaler, "gw", "ep", 3)
    scaler.track("ep", app_name="app-2", floor=0, cap=10, running=1)
    assert scaler.demand("ep") == 3
    tick(scaler)
    assert apply.calls == [("app-1", 3), ("app-2", 3)]


def test_failing_apply_is_retried_on_next_tick(scaler, apply):
    scaler.track("ep", app_name="app", floor=0, cap=10, running=0)
    apply.failures = 1
    report(scaler, "gw", "ep", 2)
    assert apply.calls == [("app", 2)]
    assert scaler.target("ep") == 0         # the failed target is not taken as applied
    tick(scaler)
    assert apply.calls == [("app", 2), ("app", 2)]
    assert scaler.target("ep") == 2
    tick(scaler)
    assert len(apply.calls) == 2


def test_failing_scale_down_is_retried(scaler, apply, clock):
    scaler.track("ep", app_name="app", floor=0, cap=10, running=3)
    clock.advance(KEEP_WARM)
    apply.failures = 2
    tick(scaler)
    tick(scaler)
    assert scaler.target("ep") == 3
    tick(scaler)
    assert apply.calls == [("app", 0)] * 3
    assert scaler.target("ep") == 0


def test_untrack_stops_management(scaler, apply, clock):
    scaler.track("ep", app_name="app", floor=1, cap=10, running=1)
    scaler.untrack("EP")
    report(scaler, "gw", "ep", 5)
    clock.advance(KEEP_WARM * 2)
    tick(scaler)
    assert apply.calls == []
    assert scaler.target("ep") is None


def test_tick_manages_every_endpoint(scaler, apply, clock):
    scaler.track("a", app_name="app-a", floor=1, cap=10, running=0)
    scaler.track("b", app_name="app-b", floor=0, cap=10, running=2)
    clock.advance(KEEP_WARM)
    tick(scaler)
    assert sorted(apply.calls) == [("app-a", 1), ("app-b", 0)]
