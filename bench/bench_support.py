"""What the benchmarks share: deploying a serverless endpoint, and the sums over their samples."""

from __future__ import annotations

from pathlib import Path


def deploy(sm, name: str, model_data: Path, max_concurrency: int, provisioned: int | None = None, *,
           wait: bool = True) -> None:
    """Model, config and endpoint ``name`` (1024 MB) serving ``model_data``; with ``wait``,
    until it is InService."""
    sm.create_model(ModelName=name, PrimaryContainer={"Image": "bench", "ModelDataUrl": str(model_data)})
    serverless = {"MemorySizeInMB": 1024, "MaxConcurrency": max_concurrency}
    if provisioned:
        serverless["ProvisionedConcurrency"] = provisioned
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "ServerlessConfig": serverless}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    if wait:
        sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 300})


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """Most intervals open at one instant (one ending as another starts does not overlap)."""
    events = sorted([(s, 1) for s, _ in intervals] + [(f, -1) for _, f in intervals], key=lambda e: (e[0], e[1]))
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def percentile(values: list[float], q: float) -> float:
    """``q``-quantile, NaN for no values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")
