"""Replica count over time while scheduled actions change provisioned concurrency.

Creates an endpoint with ProvisionedConcurrency 1, registers it with Application Auto
Scaling, schedules MinCapacity 3 a few seconds ahead and MinCapacity 1 (MaxCapacity 1)
later, and prints the replica gauge and the provisioned concurrency every half second.
Usage::

    .venv/bin/python bench/schedule_timeline.py
"""

from __future__ import annotations

import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3

from serverless_ray.platform import Platform
from serverless_ray.settings import PlatformSettings

ROOT = Path(__file__).resolve().parents[1]
DIMENSION = "sagemaker:variant:DesiredProvisionedConcurrency"


def _replicas(url: str) -> str:
    for line in urllib.request.urlopen(f"{url}/metrics").read().decode().splitlines():
        if line.startswith('serverless_ray_replicas{endpoint_name="timeline"'):
            return str(int(float(line.rsplit(" ", 1)[1])))
    return "-"


def main() -> None:
    platform = Platform(PlatformSettings(port=0, state_dir=Path(tempfile.mkdtemp()), scale_to_zero_after_s=5)).start()
    try:
        kw = dict(endpoint_url=platform.url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        sm, aas = boto3.client("sagemaker", **kw), boto3.client("application-autoscaling", **kw)
        sm.create_model(ModelName="timeline", PrimaryContainer={
            "Image": "bench", "ModelDataUrl": str(ROOT / "deployments/example/model")})
        sm.create_endpoint_config(EndpointConfigName="timeline", ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": "timeline",
            "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 4, "ProvisionedConcurrency": 1}}])
        sm.create_endpoint(EndpointName="timeline", EndpointConfigName="timeline")
        sm.get_waiter("endpoint_in_service").wait(EndpointName="timeline", WaiterConfig={"Delay": 1})
        resource = "endpoint/timeline/variant/AllTraffic"
        aas.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=resource,
                                     ScalableDimension=DIMENSION, MinCapacity=1, MaxCapacity=4)
        start = datetime.now(timezone.utc)
        up, down = start + timedelta(seconds=5), start + timedelta(seconds=20)
        for name, at, action in (("rush", up, {"MinCapacity": 3}), ("quiet", down, {"MinCapacity": 1, "MaxCapacity": 1})):
            aas.put_scheduled_action(ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=DIMENSION,
                                     ScheduledActionName=name, Schedule=f"at({at:%Y-%m-%dT%H:%M:%S})",
                                     ScalableTargetAction=action)
        print(f"scheduled: 'rush' MinCapacity 3 at +5 s ({up:%H:%M:%S}), "
              f"'quiet' Min/MaxCapacity 1 at +20 s ({down:%H:%M:%S}) UTC")
        print("  t(s)  provisioned  replicas")
        began = time.monotonic()
        while time.monotonic() - began < 35:
            variant = sm.describe_endpoint(EndpointName="timeline")["ProductionVariants"][0]
            pc = variant["CurrentServerlessConfig"].get("ProvisionedConcurrency", 0)
            print(f"{time.monotonic() - began:6.1f}  {pc:>11}  {_replicas(platform.url):>8}", flush=True)
            time.sleep(0.5)
        for activity in aas.describe_scaling_activities(ServiceNamespace="sagemaker")["ScalingActivities"]:
            print(f"activity: {activity['StatusCode']}: {activity['Description']} ({activity['Cause']})")
    finally:
        platform.stop()


if __name__ == "__main__":
    main()
