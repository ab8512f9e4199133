"""The invocation service without Ray: fake routes, dispatcher and admission; real
demand tracking, in-flight counts, metrics and errors."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import pytest
from fake_clock import FakeClock

from serverless_ray.errors import (
    InternalFailure,
    ModelError,
    ModelNotReadyException,
    RuntimeValidationError,
    ServiceError,
    ThrottlingException,
)
from serverless_ray.gateway.demand import DemandTracker
from serverless_ray.gateway.in_flight import InFlight
from serverless_ray.gateway.invocation_types import InvocationHook, InvocationOutcome, InvocationRequest
from serverless_ray.gateway.invocations import InvocationService
from serverless_ray.messages import InvocationResult, ReplicaCall, ReplicaReply, Route, StreamEnd, VariantRoute
from serverless_ray.metrics.invocations import InvocationMetrics
from serverless_ray.quota.admission import Throttled
from serverless_ray.settings import PlatformSettings

SERVERLESS = Route("ep", "AllTraffic", "sr-ep-g1", max_concurrency=2, provisioned_concurrency=1)
INSTANCES = Route("big", "Blue", "sr-big-g1-blue", 0, serverless=False, variants=(
    VariantRoute("Blue", "sr-big-g1-blue", 1.0), VariantRoute("Green", "sr-big-g1-green", 0.0)))
CREATING = Route("new", "AllTraffic", None, 0)


class Routes:
    def __init__(self, *routes: Route) -> None:
        self.routes = {r.endpoint_name: r for r in routes}

    async def lookup(self, endpoint: str) -> Route | None:
        return self.routes.get(endpoint)


class Dispatcher:
    """Answers with ``result`` (or raises ``error``); records the calls and what was in
    flight while each ran."""

    def __init__(self, service_view=None) -> None:
        self.result = InvocationResult(200, b'{"ok": true}', "application/json", "seen=1")
        self.error: Exception | None = None
        self.calls: list[tuple[Route, ReplicaCall]] = []
        self.in_flight_seen: list[int] = []
        self.service_view = service_view
        self.model_seconds = 0.25
        # A streamed reply's items after its head; an exception among them is raised there.
        self.stream_items: list = [b"one", b"two", StreamEnd(model_seconds=0.75)]
        self.streams_closed = 0

    async def invoke(self, route: Route, call: ReplicaCall) -> ReplicaReply:
        self.calls.append((route, call))
        if self.service_view is not None:
            self.in_flight_seen.append(self.service_view(route.endpoint_name))
        if self.error is not None:
            raise self.error
        return ReplicaReply(self.result, model_seconds=self.model_seconds, cold=True, standby=True)

    async def stream(self, route: Route, call: ReplicaCall):
        self.calls.append((route, call))
        try:
            if self.error is not None:
                raise self.error
            head = InvocationResult(self.result.status, b"" if self.result.ok else self.result.body,
                                    self.result.content_type, self.result.custom_attributes)
            yield ReplicaReply(head, model_seconds=0.01, cold=True, standby=True)
            for item in self.stream_items:
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, asyncio.Event):
                    await item.wait()  # held until the test sets it
                    continue
                yield item
        finally:
            self.streams_closed += 1


class Admission:
    def __init__(self) -> None:
        self.refuse: Throttled | None = None
        self.slots: list[tuple[str, int]] = []
        self.held = 0

    @asynccontextmanager
    async def slot(self, endpoint: str, limit: int):
        if self.refuse is not None:
            raise self.refuse
        self.slots.append((endpoint, limit))
        self.held += 1
        try:
            yield
        finally:
            self.held -= 1


class Recorder(InvocationHook):
    def __init__(self, refuse: ServiceError | None = None, explode: bool = False) -> None:
        self.started: list[InvocationRequest] = []
        self.outcomes: list[InvocationOutcome] = []
        self.refuse = refuse
        self.explode = explode

    async def on_start(self, request):
        self.started.append(request)
        if self.refuse is not None:
            raise self.refuse

    def on_finish(self, outcome):
        self.outcomes.append(outcome)
        if self.explode:
            raise RuntimeError("a broken hook")


class Setup:
    def __init__(self, *routes: Route, hooks=(), enforce: bool = True) -> None:
        self.settings = PlatformSettings(max_payload_bytes=64)
        self.in_flight = InFlight()
        self.reports: list[dict] = []

        async def report(reports):
            self.reports.append(reports)

        self.demand = DemandTracker(report, interval_s=60, in_flight=self.in_flight)
        self.metrics = InvocationMetrics()
        self.metrics.watch_in_flight(self.in_flight.by_variant)
        self.dispatcher = Dispatcher(self.demand.in_flight)
        self.admission = Admission() if enforce else None
        self.clock = FakeClock(100.0)
        self.service = InvocationService(
            self.settings, routes=Routes(*(routes or (SERVERLESS, INSTANCES, CREATING))),
            dispatcher=self.dispatcher, demand=self.demand, metrics=self.metrics, admission=self.admission,
            hooks=hooks, clock=self.clock, wall_clock=lambda: 1234.5, pick_variant=lambda: 0.0,
        )

    def invoke(self, endpoint: str = "ep", body: bytes = b"{}", **fields):
        request = InvocationRequest(endpoint_name=endpoint, body=body, request_id="req-1", **fields)

        async def run():
            return await self.service.invoke(request)

        return asyncio.run(run())

    def metric(self, name: str, **labels) -> float | None:
        return self.metrics.registry.get_sample_value(name, {"endpoint_name": "ep", "variant_name": "AllTraffic",
                                                             **labels})


def test_a_served_invocation_and_what_it_leaves_behind():
    s = Setup()
    reply = s.invoke(content_type="application/json", accept="application/json", custom_attributes="a=1")
    assert (reply.body, reply.content_type, reply.variant_name, reply.request_id, reply.custom_attributes) == (
        b'{"ok": true}', "application/json", "AllTraffic", "req-1", "seen=1")
    route, call = s.dispatcher.calls[0]
    assert route.app_name == "sr-ep-g1"
    assert (call.body, call.content_type, call.accept, call.custom_attributes, call.request_id, call.sent_at) == (
        b"{}", "application/json", "application/json", "a=1", "req-1", 1234.5)
    assert s.admission.slots == [("ep", 2)]
    assert s.dispatcher.in_flight_seen == [1]  # counted while the model ran
    assert s.demand.in_flight("ep") == 0 and s.metric("serverless_ray_in_flight") == 0
    assert s.metric("serverless_ray_invocations_total") == 1
    assert s.metric("serverless_ray_model_latency_microseconds_count") == 1
    assert s.metric("serverless_ray_standby_invocations_total") == 1
    assert s.metric("serverless_ray_provisioned_concurrency_invocations_total") == 1


def test_the_in_flight_count_is_the_one_that_demand_reports_and_metrics_read():
    s = Setup()
    seen = {}

    async def scenario():
        gate = asyncio.Event()
        original = s.dispatcher.invoke

        async def slow(route, call):
            await gate.wait()
            return await original(route, call)

        s.dispatcher.invoke = slow
        task = asyncio.gather(*(s.service.invoke(InvocationRequest("ep", b"{}")) for _ in range(2)))
        for _ in range(5):
            await asyncio.sleep(0)
        seen["demand"] = s.demand.in_flight("ep")
        seen["metric"] = s.metric("serverless_ray_in_flight")
        seen["reports"] = list(s.reports)
        gate.set()
        await task

    asyncio.run(scenario())
    assert seen == {"demand": 2, "metric": 2, "reports": [{"ep": (2, 2)}]}


def test_unknown_and_still_creating_endpoints():
    s = Setup()
    with pytest.raises(RuntimeValidationError, match="^Endpoint nope of account 123456789012 not found.$"):
        s.invoke("nope")
    with pytest.raises(ModelNotReadyException, match="still being created"):
        s.invoke("new")
    assert s.dispatcher.calls == []


def test_request_limits_are_checked_before_the_model():
    s = Setup()
    with pytest.raises(RuntimeValidationError, match="Request req-1 has oversize body."):
        s.invoke(body=b"x" * 65)
    with pytest.raises(RuntimeValidationError, match="at most 1024 ASCII characters"):
        s.invoke(custom_attributes="é")
    assert s.dispatcher.calls == []


def test_a_throttled_invocation_names_the_limit_it_hit():
    s = Setup()
    s.admission.refuse = Throttled("endpoint", 2)
    with pytest.raises(ThrottlingException, match="Endpoint ep is at its MaxConcurrency of 2"):
        s.invoke()
    s.admission.refuse = Throttled("account", 0)
    with pytest.raises(ThrottlingException, match="pool of 1000 concurrent invocations"):
        s.invoke()
    assert s.metric("serverless_ray_throttles_total", reason="endpoint") == 1
    assert s.dispatcher.calls == []


def test_instance_based_endpoints_take_no_serverless_slot_and_honour_the_target_variant():
    s = Setup()
    reply = s.invoke("big", target_variant="Green")
    assert reply.variant_name == "Green" and s.dispatcher.calls[0][0].app_name == "sr-big-g1-green"
    assert s.admission.slots == []


def test_model_errors_carry_the_models_status():
    s = Setup()
    s.dispatcher.result = InvocationResult(415, b"no such format", "text/plain")
    with pytest.raises(ModelError) as caught:
        s.invoke()
    assert caught.value.fields["OriginalStatusCode"] == 415
    assert caught.value.fields["ErrorCode"] == "CLIENT_ERROR_FROM_MODEL"
    assert s.metric("serverless_ray_invocation_4xx_errors_total") == 1


def test_a_replica_that_does_not_answer_and_a_reply_too_large_are_server_errors():
    s = Setup()
    s.dispatcher.error = ModelError("gone", OriginalStatusCode=0)
    with pytest.raises(ModelError, match="gone"):
        s.invoke()
    s.dispatcher.error = None
    s.dispatcher.result = InvocationResult(200, b"y" * 65, "text/plain")
    with pytest.raises(ModelError, match="Received a response of 65 bytes"):
        s.invoke()
    assert s.metric("serverless_ray_invocation_5xx_errors_total") == 2


def test_a_bug_is_an_internal_failure_and_hooks_see_every_outcome():
    hook = Recorder(explode=True)  # a failing hook changes nothing for the caller
    s = Setup(hooks=[hook])
    s.dispatcher.model_seconds = 0.5
    s.invoke()
    s.dispatcher.error = KeyError("bug")
    with pytest.raises(InternalFailure, match="^Internal error while running InvokeEndpoint: KeyError$"):
        s.invoke()
    with pytest.raises(RuntimeValidationError):
        s.invoke("nope", body=b"abc")
    served, failed, unknown = hook.outcomes
    assert (served.reply is not None, served.error, served.variant_name) == (True, None, "AllTraffic")
    assert (served.request_bytes, served.response_bytes, served.model_seconds, served.cold) == (2, 12, 0.5, True)
    assert served.duration_s == 0.0  # the fake clock stood still
    assert isinstance(failed.error, InternalFailure) and failed.reply is None
    assert (unknown.variant_name, unknown.request_bytes, type(unknown.error)) == (None, 3, RuntimeValidationError)
    assert len(hook.started) == 3


def test_a_hook_may_refuse_an_invocation_before_anything_else():
    hook = Recorder(refuse=ThrottlingException("not you"))
    s = Setup(hooks=[hook])
    with pytest.raises(ThrottlingException, match="not you"):
        s.invoke()
    assert s.dispatcher.calls == [] and s.metric("serverless_ray_invocations_total") is None
    assert isinstance(hook.outcomes[0].error, ThrottlingException)


def test_without_enforcement_nothing_is_admitted_or_throttled():
    s = Setup(enforce=False)
    assert s.invoke().body == b'{"ok": true}'
