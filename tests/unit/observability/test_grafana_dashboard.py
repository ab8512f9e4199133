"""The Grafana dashboard reads only series the platform defines (pure, no Ray; the
integration run checks they all have samples in /metrics)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from serverless_ray.isolation.utilization import UtilizationCollector
from serverless_ray.metrics.invocations import InvocationMetrics
from serverless_ray.metrics.platform import PlatformMetrics

DASHBOARD = Path(__file__).parents[3] / "deployments" / "grafana" / "serverless-ray.json"
SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


def _families() -> set[str]:
    names = set()
    invocations, platform = InvocationMetrics(), PlatformMetrics()
    invocations.watch_in_flight(lambda: {})
    for registry in (invocations.registry, platform.registry):
        names |= {family.name for family in registry.collect()}
    names |= {f.name for f in UtilizationCollector("/nonexistent", lambda: "scope", None).collect()}
    return names


def _family(series: str, families: set[str]) -> str | None:
    for suffix in ("", *SUFFIXES):
        if series.endswith(suffix) and series[: len(series) - len(suffix)] in families:
            return series[: len(series) - len(suffix)]
    return None


def test_every_query_names_a_series_the_platform_defines():
    doc = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in doc["panels"] for target in panel["targets"]]
    used = {name for expr in exprs for name in re.findall(r"\bserverless_ray_[a-z0-9_]+", expr)}
    families = _families()
    assert {name for name in used if _family(name, families) is None} == set()
    # The panels the issue names are there.
    assert {_family(name, families) for name in used} >= {
        "serverless_ray_invocations", "serverless_ray_invocation_4xx_errors", "serverless_ray_invocation_5xx_errors",
        "serverless_ray_model_latency_microseconds", "serverless_ray_model_setup_time_microseconds",
        "serverless_ray_replicas", "serverless_ray_throttles", "serverless_ray_concurrent_executions_utilization",
        "serverless_ray_provisioned_concurrency_utilization", "serverless_ray_memory_utilization"}


def test_panels_have_unique_ids_and_use_the_datasource_variable():
    doc = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in doc["panels"]]
    assert len(ids) == len(set(ids))
    assert all(panel["datasource"]["uid"] == "${datasource}" for panel in doc["panels"])


def test_a_variants_counters_exist_from_its_first_invocation():
    from typing import get_args

    from serverless_ray.metrics.invocations import THROTTLE_REASONS
    from serverless_ray.quota.ledger import ShortOf

    assert set(THROTTLE_REASONS) == set(get_args(ShortOf))
    metrics = InvocationMetrics()
    metrics.start_counting(("ep", "AllTraffic"))
    metrics.start_counting(("ep", "AllTraffic"))
    samples = {(s.name, s.labels.get("reason")): s.value for f in metrics.registry.collect() for s in f.samples
               if s.name.endswith("_total")}
    assert samples[("serverless_ray_invocation_5xx_errors_total", None)] == 0
    assert samples[("serverless_ray_throttles_total", "account")] == 0
    assert samples[("serverless_ray_standby_invocations_total", None)] == 0
    metrics.observe_provisioned(("ep", "AllTraffic"), in_flight=1, provisioned=1, started=True)
    spilled = [s for f in metrics.registry.collect() for s in f.samples
               if s.name == "serverless_ray_provisioned_concurrency_spillover_invocations_total"]
    assert [s.value for s in spilled] == [0]
