"""DemandTracker: immediate reports on a rise, periodic summaries while busy, silence when idle."""

import asyncio

from serverless_ray.gateway.demand import DemandTracker

INTERVAL = 0.05


class Recorder:
    def __init__(self, fail_times: int = 0) -> None:
        self.reports: list[dict[str, tuple[int, int]]] = []
        self.fail_times = fail_times

    async def __call__(self, reports):
        self.reports.append(dict(reports))
        if self.fail_times > 0:
            self.fail_times -= 1
            raise ConnectionError("controller restarting")


async def wait_for_reports(recorder, count, timeout_s=2.0):
    """Wait until ``count`` reports arrived (generous deadline for loaded machines)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while len(recorder.reports) < count and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(INTERVAL / 5)


async def settle():
    """Let tasks the tracker scheduled run (without reaching the periodic interval)."""
    for _ in range(5):
        await asyncio.sleep(0)


def test_rise_is_reported_immediately():
    async def scenario():
        recorder = Recorder()
        tracker = DemandTracker(recorder, interval_s=60)   # no periodic report during the test
        tracker.start()
        try:
            with tracker.track("ep"):
                await settle()
                assert recorder.reports == [{"ep": (1, 1)}]
                assert tracker.in_flight("ep") == 1
            assert tracker.in_flight("ep") == 0
        finally:
            tracker.stop()
        return recorder.reports

    assert asyncio.run(scenario()) == [{"ep": (1, 1)}]


def test_concurrent_rise_reports_in_flight_and_peak():
    async def scenario():
        recorder = Recorder()
        tracker = DemandTracker(recorder, interval_s=60)
        with tracker.track("ep"):
            with tracker.track("ep"):
                with tracker.track("ep"):
                    await settle()
        await settle()
        return recorder.reports

    # all three started before the report went out: one report carries them
    assert asyncio.run(scenario()) == [{"ep": (3, 3)}]


def test_each_further_rise_is_reported():
    async def scenario():
        recorder = Recorder()
        tracker = DemandTracker(recorder, interval_s=60)
        with tracker.track("ep"):
            await settle()
            with tracker.track("ep"):
                await settle()
            with tracker.track("ep"):       # back to 2: not above what was reported
                await settle()
        return recorder.reports

    assert asyncio.run(scenario()) == [{"ep": (1, 1)}, {"ep": (2, 2)}]


def test_endpoints_are_reported_separately():
    async def scenario():
        recorder = Recorder()
        tracker = DemandTracker(recorder, interval_s=60)
        with tracker.track("a"), tracker.track("b"), tracker.track("b"):
            await settle()
        return recorder.reports

    assert asyncio.run(scenario()) == [{"a": (1, 1), "b": (2, 2)}]


def test_idle_tracker_sends_nothing():
    async def scenario():
        recorder = Recorder()
        tracker = DemandTracker(recorder, interval_s=INTERVAL)
        tracker.start()
        await asyncio.sleep(INTERVAL * 5)
        tracker.stop()
        return recorder.reports

    assert asyncio.run(scenario()) == []


def test_after_requests_finish_a_periodic_report_sends_zero_and_the_peak():
    async def scenario():
        recorder = Recorder()
        tracker = DemandTracker(recorder, interval_s=INTERVAL)
        tracker.start()
        try:
            with tracker.track("ep"), tracker.track("ep"):
                await settle()
            assert recorder.reports == [{"ep": (2, 2)}]
            await wait_for_reports(recorder, 2)
            assert recorder.reports == [{"ep": (2, 2)}, {"ep": (0, 2)}]
            await asyncio.sleep(INTERVAL * 4)   # then idle: nothing more
        finally:
            tracker.stop()
        return recorder.reports

    assert asyncio.run(scenario()) == [{"ep": (2, 2)}, {"ep": (0, 2)}]


def test_busy_endpoint_is_summarised_every_interval():
    async def scenario():
        recorder = Recorder()
        tracker = DemandTracker(recorder, interval_s=INTERVAL)
        tracker.start()
        try:
            with tracker.track("ep"):
                await wait_for_reports(recorder, 3)
        finally:
            tracker.stop()
        return recorder.reports

    reports = asyncio.run(scenario())
    assert reports[0] == {"ep": (1, 1)}
    assert len(reports) == 3
    assert all(r == {"ep": (1, 1)} for r in reports)


def test_failed_report_makes_the_next_request_report_again():
    async def scenario():
        recorder = Recorder(fail_times=1)
        tracker = DemandTracker(recorder, interval_s=60)
        with tracker.track("ep"):
            await settle()
        with tracker.track("ep"):       # not a rise, but the autoscaler never heard of the first
            await settle()
        return recorder.reports

    assert asyncio.run(scenario()) == [{"ep": (1, 1)}, {"ep": (1, 1)}]
