"""Runs a benchmark sweep on a running platform, through its public APIs only.

Per scenario: create an endpoint config and endpoint (and the model, from model data),
warm it up, measure ``invocations`` warm calls from ``client_concurrency`` clients, then
``cold_starts`` rounds of: end the keep-warm window (``ServerlessRay.ReleaseWarmCapacity``,
what ``--scale-to-zero-after`` does when it runs out), wait until only the provisioned
replicas run and no standby holds the model, and send one call per client. The cost
meter's counts before and after each phase give what the phase was billed. Everything
created is deleted at the end, also when the run is interrupted.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import count
from typing import Any, Callable, Protocol

from serverless_ray.benchmark.analysis import Metered, ScenarioResult
from serverless_ray.benchmark.plan import Scenario
from serverless_ray.benchmark.requests import ExampleRequest
from serverless_ray.benchmark.stats import Call, CallSummary, LatencySummary, Outcome

VARIANT = "AllTraffic"
IN_SERVICE_TIMEOUT_S = 600.0
SETTLE_TIMEOUT_S = 120.0
METER_TIMEOUT_S = 30.0
POLL_S = 0.25


class BenchmarkError(RuntimeError):
    """The benchmark cannot go on (the model is missing, an endpoint failed to start)."""


class Progress(Protocol):
    def scenario(self, index: int, total: int, scenario: Scenario) -> None: ...
    def phase(self, text: str, done: int = 0, total: int | None = None) -> None: ...
    def advance(self, done: int) -> None: ...


class NoProgress:
    def scenario(self, index: int, total: int, scenario: Scenario) -> None:
        pass

    def phase(self, text: str, done: int = 0, total: int | None = None) -> None:
        pass

    def advance(self, done: int) -> None:
        pass


@dataclass
class BenchmarkSpec:
    requests: list[ExampleRequest]
    invocations: int = 100  # warm calls measured per scenario
    cold_starts: int = 3  # rounds of first-calls-after-scale-to-zero per scenario
    model_name: str | None = None  # an existing model, or:
    model_data: str | None = None
    image: str = "serverless-ray/benchmark"
    environment: dict[str, str] = field(default_factory=dict)


@dataclass
class Created:
    """What the run made, in the order to delete it."""

    endpoints: list[str] = field(default_factory=list)
    configs: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)


class BenchmarkRunner:
    def __init__(self, sagemaker, runtime, admin, spec: BenchmarkSpec, *, progress: Progress | None = None,
                 run_id: str | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._sm, self._runtime, self._admin = sagemaker, runtime, admin
        self._spec = spec
        self._progress = progress or NoProgress()
        self.run_id = run_id or uuid.uuid4().hex[:6]
        self._clock = clock
        self.created = Created()
        self._cleanup_lock = threading.Lock()

    # --- the sweep ----------------------------------------------------------------------

    def run(self, scenarios: list[Scenario]) -> list[ScenarioResult]:
        """Measure every scenario; deletes everything it created, whatever happens."""
        results = []
        try:
            model = self._model()
            for index, scenario in enumerate(scenarios, 1):
                self._progress.scenario(index, len(scenarios), scenario)
                results.append(self._run_scenario(model, scenario))
        finally:
            self.cleanup()
        return results

    def _model(self) -> str:
        spec = self._spec
        if spec.model_name:
            self._sm.describe_model(ModelName=spec.model_name)  # the AWS error if it does not exist
            return spec.model_name
        if not spec.model_data:
            raise BenchmarkError("give --model-name, or --model-data (with --image)")
        name = f"bench-{self.run_id}-model"
        container: dict[str, Any] = {"Image": spec.image, "ModelDataUrl": spec.model_data}
        if spec.environment:
            container["Environment"] = spec.environment
        self._sm.create_model(ModelName=name, PrimaryContainer=container)
        self.created.models.append(name)
        return name

    def _run_scenario(self, model: str, scenario: Scenario) -> ScenarioResult:
        endpoint = self._deploy(model, scenario)
        try:
            self._progress.phase("warming up")
            warm_up = self._calls(endpoint, scenario.client_concurrency, scenario.client_concurrency)
            before = self._settled_meter(endpoint, at_least=_ok(warm_up))
            self._progress.phase("warm calls", 0, self._spec.invocations)
            warm = self._calls(endpoint, self._spec.invocations, scenario.client_concurrency, report=True)
            after_warm = self._settled_meter(endpoint, at_least=before.invocations + _ok(warm))
            after_idle, setup_ms = self._after_idle_rounds(endpoint, scenario)
            after_cold = self._settled_meter(endpoint, at_least=after_warm.invocations + _ok(after_idle))
        except BenchmarkError as exc:
            return _failed(scenario, str(exc))
        finally:
            self._delete_endpoint(endpoint)
        return ScenarioResult(
            scenario=scenario, warm=CallSummary.of(warm), after_idle=CallSummary.of(after_idle),
            model_setup=LatencySummary.of(setup_ms), warm_meter=after_warm.minus(before),
            after_idle_meter=after_cold.minus(after_warm),
            warm_latencies_ms=[c.latency_ms for c in warm if c.outcome is Outcome.OK],
            after_idle_latencies_ms=[c.latency_ms for c in after_idle if c.outcome is Outcome.OK],
            model_setup_ms=setup_ms,
        )

    # --- endpoints ----------------------------------------------------------------------

    def _deploy(self, model: str, scenario: Scenario) -> str:
        name = f"bench-{self.run_id}-{scenario.slug}"
        serverless: dict[str, Any] = {"MemorySizeInMB": scenario.memory_mb, "MaxConcurrency": scenario.max_concurrency}
        if scenario.provisioned:
            serverless["ProvisionedConcurrency"] = scenario.provisioned
        self._progress.phase("creating the endpoint")
        self._sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
            {"VariantName": VARIANT, "ModelName": model, "ServerlessConfig": serverless}])
        self.created.configs.append(name)
        self._sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
        self.created.endpoints.append(name)
        self._wait(lambda: self._status(name) not in ("Creating", "Updating"), IN_SERVICE_TIMEOUT_S)
        if self._status(name) != "InService":
            reason = self._sm.describe_endpoint(EndpointName=name).get("FailureReason", "")
            raise BenchmarkError(f"endpoint {name} did not come into service: {reason}")
        return name

    def _status(self, name: str) -> str:
        return self._sm.describe_endpoint(EndpointName=name)["EndpointStatus"]

    def _delete_endpoint(self, name: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self._sm.delete_endpoint(EndpointName=name)
        except ClientError:
            pass
        self._wait(lambda: not self._exists(name), SETTLE_TIMEOUT_S)
        if name in self.created.endpoints:
            self.created.endpoints.remove(name)
        try:
            self._sm.delete_endpoint_config(EndpointConfigName=name)
            self.created.configs.remove(name)
        except ClientError:
            pass

    def _exists(self, name: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._sm.describe_endpoint(EndpointName=name)
        except ClientError:
            return False
        return True

    def cleanup(self) -> None:
        """Delete every endpoint, config and model this run created (safe to call twice)."""
        with self._cleanup_lock, _uninterruptible():
            self._cleanup()

    def _cleanup(self) -> None:
        """What cannot be deleted (the platform stopped answering) stays in ``created``."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            for name in list(self.created.endpoints):
                try:
                    self._sm.delete_endpoint(EndpointName=name)
                except ClientError:
                    pass  # already gone
            for name in list(self.created.endpoints):
                if self._wait(lambda: not self._exists(name), SETTLE_TIMEOUT_S):
                    self.created.endpoints.remove(name)
            for kind, delete in (("configs", lambda n: self._sm.delete_endpoint_config(EndpointConfigName=n)),
                                 ("models", lambda n: self._sm.delete_model(ModelName=n))):
                for name in list(getattr(self.created, kind)):
                    try:
                        delete(name)
                    except ClientError:
                        pass  # already gone
                    getattr(self.created, kind).remove(name)
        except BotoCoreError:
            return  # the platform does not answer: the caller reports what is left

    def leftovers(self) -> list[str]:
        """What this run created and could not delete."""
        return [*self.created.endpoints, *self.created.configs, *self.created.models]


    # --- calls --------------------------------------------------------------------------

    def _calls(self, endpoint: str, total: int, clients: int, *, report: bool = False) -> list[Call]:
        """``total`` calls from ``clients`` concurrent clients, cycling through the requests."""
        numbers, calls, lock, stop = count(), [], threading.Lock(), threading.Event()

        def client() -> None:
            while not stop.is_set() and (n := next(numbers)) < total:
                call = self._invoke(endpoint, self._spec.requests[n % len(self._spec.requests)])
                with lock:
                    calls.append(call)
                    done = len(calls)
                if report:
                    self._progress.advance(done)

        pool = ThreadPoolExecutor(clients, thread_name_prefix="bench-client")
        try:
            for future in [pool.submit(client) for _ in range(clients)]:
                future.result()
        except BaseException:
            # Interrupted: the clients stop after the call they are in (which deleting
            # the endpoint ends soon); nobody waits for them.
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        return calls

    def _invoke(self, endpoint: str, request: ExampleRequest) -> Call:
        from botocore.exceptions import BotoCoreError, ClientError

        kwargs: dict[str, Any] = {"EndpointName": endpoint, "Body": request.body, "ContentType": request.content_type}
        if request.accept:
            kwargs["Accept"] = request.accept
        started = self._clock()
        try:
            self._runtime.invoke_endpoint(**kwargs)["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Error")
            outcome = Outcome.THROTTLED if code == "ThrottlingException" else Outcome.ERROR
            return Call(started, self._clock(), outcome, code)
        except BotoCoreError as exc:
            return Call(started, self._clock(), Outcome.ERROR, type(exc).__name__)
        return Call(started, self._clock(), Outcome.OK)

    # --- cold starts ----------------------------------------------------------------------

    def _after_idle_rounds(self, endpoint: str, scenario: Scenario) -> tuple[list[Call], list[float]]:
        calls: list[Call] = []
        setup_ms: list[float] = []
        for round_number in range(1, self._spec.cold_starts + 1):
            self._progress.phase(f"scaling to zero ({round_number}/{self._spec.cold_starts})")
            self._admin.call("ReleaseWarmCapacity", EndpointName=endpoint)
            self._wait(lambda: self._running(endpoint) <= scenario.provisioned and self._standbys_in_use() == 0,
                       SETTLE_TIMEOUT_S)
            self._progress.phase(f"cold start {round_number}/{self._spec.cold_starts}")
            before = self._setup_histogram(endpoint)
            round_calls = self._calls(endpoint, scenario.client_concurrency, scenario.client_concurrency)
            calls += round_calls
            after = self._setup_histogram(endpoint)
            starts, total_us = after[0] - before[0], after[1] - before[1]
            if starts > 0:  # one sample per round: the mean of the replica starts it waited for
                setup_ms.append(total_us / starts / 1000.0)
            # Before the next round, Serve's own replica has taken over from the standby
            # that answered, or the autoscaler has given it up (the keep-warm window ran
            # out first): a replica still starting would answer the next "cold" call warm.
            last = round_number == self._spec.cold_starts
            if not last and scenario.provisioned == 0 and any(c.outcome is Outcome.OK for c in round_calls):
                self._wait(lambda: self._settled_after_cold_start(endpoint), SETTLE_TIMEOUT_S)
        return calls, setup_ms

    def _settled_after_cold_start(self, endpoint: str) -> bool:
        running, target = self._capacity(endpoint)
        return running >= 1 or target == 0

    def _running(self, endpoint: str) -> int:
        return self._capacity(endpoint)[0]

    def _capacity(self, endpoint: str) -> tuple[int, int]:
        """(running, target) replicas of ``endpoint``; (0, 0) if it has none."""
        for item in self._admin.call("ListEndpointCapacity")["Endpoints"]:
            if item["EndpointName"] == endpoint:
                return item["RunningReplicas"], item["TargetReplicas"] or 0
        return 0, 0

    def _standbys_in_use(self) -> float:
        return _sample(self._admin.metrics_text(), "serverless_ray_standby_replicas", state="in_use") or 0.0

    def _setup_histogram(self, endpoint: str) -> tuple[float, float]:
        text = self._admin.metrics_text()
        labels = {"endpoint_name": endpoint, "variant_name": VARIANT}
        return (_sample(text, "serverless_ray_model_setup_time_microseconds_count", **labels) or 0.0,
                _sample(text, "serverless_ray_model_setup_time_microseconds_sum", **labels) or 0.0)

    # --- the cost meter -------------------------------------------------------------------

    def _meter(self, endpoint: str) -> Metered:
        usage = self._admin.call("GetCostAndUsage", EndpointName=endpoint)["Total"]
        return Metered(usage["Invocations"], usage["BilledGbSeconds"], usage["ProvisionedComputeGbSeconds"],
                       usage["ProcessedBytes"])

    def _settled_meter(self, endpoint: str, at_least: int = 0) -> Metered:
        """The meter once it has counted at least ``at_least`` invocations and stopped
        moving (gateways send usage about once a second)."""
        deadline = self._clock() + METER_TIMEOUT_S
        previous = None
        while True:
            current = self._meter(endpoint)
            if current.invocations >= at_least and current == previous or self._clock() > deadline:
                return current
            previous = current
            time.sleep(1.2)

    def _wait(self, done: Callable[[], bool], timeout_s: float) -> bool:
        """Poll ``done`` until it holds (True) or ``timeout_s`` passed (False)."""
        deadline = self._clock() + timeout_s
        while not done():
            if self._clock() > deadline:
                return False
            time.sleep(POLL_S)
        return True


@contextmanager
def _uninterruptible():
    """Ctrl-C is ignored meanwhile (in the main thread): cleaning up must finish."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _ok(calls: list[Call]) -> int:
    return sum(c.outcome is Outcome.OK for c in calls)


def _failed(scenario: Scenario, reason: str) -> ScenarioResult:
    nothing = CallSummary.of([])
    return ScenarioResult(scenario, nothing, nothing, LatencySummary.of([]), Metered(), Metered(), failure=reason)


def _sample(text: str, name: str, **labels: str) -> float | None:
    from prometheus_client.parser import text_string_to_metric_families

    total = None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total = (total or 0.0) + sample.value
    return total
