"""The endpoints file: endpoints declared in YAML, validated before anything is created.

The same models are the ``args`` of the Serve application (``serverless_ray.serve_app``),
so an endpoints file and a Serve config file declare endpoints the same way.

.. code-block:: yaml

    endpoints:
      - name: example-linear
        model_data: example/model      # relative to the file, or s3:// / https:// / file://
        memory_size_mb: 1024
        max_concurrency: 4
        provisioned_concurrency: 1     # optional warm floor
        autoscaling:                   # optional: Application Auto Scaling of the floor
          min_capacity: 1
          max_capacity: 4
          scheduled_actions:
            - name: office-hours
              schedule: cron(0 8 ? * MON-FRI *)
              timezone: Europe/Berlin
              min_capacity: 3
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from serverless_ray.spec.schedules import ScheduleExpression, TimeZoneName
from serverless_ray.settings import PlatformSettings
from serverless_ray.spec import names
from serverless_ray.spec.endpoint_config import MAX_CONCURRENCY_LIMIT, MemorySize

SERVE_APP_IMPORT_PATH = "serverless_ray.serve_app:app"


class ScheduledActionDeclaration(BaseModel):
    """A ``PutScheduledAction`` on the endpoint's provisioned concurrency."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=256, pattern=r"^[^:/|\x00-\x1f\x7f]+$",
                      description="ScheduledActionName, unique per endpoint.")
    schedule: ScheduleExpression = Field(description="at(yyyy-mm-ddThh:mm:ss), rate(<n> minutes|hours|days) or cron(6 fields).")
    timezone: TimeZoneName | None = Field(None, description="IANA time zone of the schedule (default UTC).")
    start_time: datetime | None = Field(None, description="The action does not fire before this time.")
    end_time: datetime | None = Field(None, description="The action does not fire after this time.")
    min_capacity: int | None = Field(None, ge=1, description="New MinCapacity of the scalable target.")
    max_capacity: int | None = Field(None, ge=1, description="New MaxCapacity of the scalable target.")

    @model_validator(mode="after")
    def _bounds(self):
        if self.min_capacity is None and self.max_capacity is None:
            raise ValueError(f"scheduled action '{self.name}' sets neither min_capacity nor max_capacity")
        if self.min_capacity is not None and self.max_capacity is not None and self.min_capacity > self.max_capacity:
            raise ValueError(f"scheduled action '{self.name}': min_capacity {self.min_capacity} exceeds "
                             f"max_capacity {self.max_capacity}")
        if self.start_time and self.end_time and self.end_time <= self.start_time:
            raise ValueError(f"scheduled action '{self.name}': end_time {self.end_time.isoformat()} is not after "
                             f"start_time {self.start_time.isoformat()}")
        return self


class ProvisionedScalingDeclaration(BaseModel):
    """The scalable target of the endpoint's provisioned concurrency and its schedule."""

    model_config = ConfigDict(extra="forbid")

    min_capacity: int = Field(ge=1, description="MinCapacity of the scalable target.")
    max_capacity: int = Field(ge=1, description="MaxCapacity of the scalable target (<= max_concurrency).")
    scheduled_actions: list[ScheduledActionDeclaration] = Field(
        default_factory=list, description="Scheduled changes of the capacity bounds."
    )

    @model_validator(mode="after")
    def _consistent(self):
        if self.min_capacity > self.max_capacity:
            raise ValueError(f"min_capacity {self.min_capacity} exceeds max_capacity {self.max_capacity}")
        seen = [a.name for a in self.scheduled_actions]
        duplicates = sorted({n for n in seen if seen.count(n) > 1})
        if duplicates:
            raise ValueError(f"scheduled action names must be unique; repeated: {', '.join(duplicates)}")
        return self


class EndpointDeclaration(BaseModel):
    """One serverless endpoint: it becomes a model, an endpoint config and an endpoint."""

    model_config = ConfigDict(extra="forbid")

    name: names.EndpointName = Field(description="Endpoint name; the model and config are named after it.")
    model_data: str = Field(min_length=1, description="ModelDataUrl, or a path relative to the file.")
    memory_size_mb: MemorySize = Field(2048, description="MemorySizeInMB: 1024-6144 in steps of 1024.")
    max_concurrency: int = Field(5, ge=1, le=MAX_CONCURRENCY_LIMIT, description="MaxConcurrency: 1-200.")
    provisioned_concurrency: int | None = Field(
        None, ge=1, le=MAX_CONCURRENCY_LIMIT, description="ProvisionedConcurrency (<= max_concurrency)."
    )
    environment: dict[str, str] = Field(default_factory=dict, description="Environment of the model code.")
    image: str = Field("serverless-ray/sagemaker-inference", description="Image recorded on the model.")
    variant_name: names.VariantName = Field("AllTraffic", description="The production variant's name.")
    autoscaling: ProvisionedScalingDeclaration | None = Field(
        None, description="Application Auto Scaling of the provisioned concurrency (needs provisioned_concurrency)."
    )

    @model_validator(mode="after")
    def _concurrency(self):
        pc = self.provisioned_concurrency
        if pc is not None and pc > self.max_concurrency:
            raise ValueError(f"provisioned_concurrency {pc} exceeds max_concurrency {self.max_concurrency}")
        if self.autoscaling is not None:
            if pc is None:
                raise ValueError(f"endpoint '{self.name}': autoscaling needs provisioned_concurrency")
            highest = max([self.autoscaling.max_capacity] + [
                a.max_capacity for a in self.autoscaling.scheduled_actions if a.max_capacity is not None
            ])
            if highest > self.max_concurrency:
                raise ValueError(f"endpoint '{self.name}': autoscaling max_capacity {highest} exceeds "
                                 f"max_concurrency {self.max_concurrency}")
        return self

    def model_digest(self) -> str:
        """Digest of what the model is made of: a change here means new replicas."""
        return _digest(self.model_dump_json(include={"model_data", "environment", "image"}))

    def config_digest(self) -> str:
        """Digest of what the endpoint config is made of (scaling changes are not part of it)."""
        return _digest(self.model_dump_json(exclude={"autoscaling"}))

    def resolved(self, base: Path) -> "EndpointDeclaration":
        """This declaration with a relative ``model_data`` path made absolute against ``base``."""
        if "://" in self.model_data or self.model_data.startswith("/"):
            return self
        return self.model_copy(update={"model_data": str((base / self.model_data).resolve())})


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


class EndpointsFile(BaseModel):
    """A set of endpoints, applied as a whole."""

    model_config = ConfigDict(extra="forbid")

    endpoints: list[EndpointDeclaration] = Field(default_factory=list, description="The declared endpoints.")

    @model_validator(mode="after")
    def _unique_names(self):
        seen = [e.name.lower() for e in self.endpoints]
        duplicates = sorted({n for n in seen if seen.count(n) > 1})
        if duplicates:
            raise ValueError(f"endpoint names must be unique (case-insensitive); repeated: {', '.join(duplicates)}")
        return self


class StrictPlatformSettings(PlatformSettings):
    """Platform settings as written in a config file: a misspelt option is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ServeAppArgs(EndpointsFile):
    """The ``args`` of ``serverless_ray.serve_app:app`` in a Serve config file."""

    platform: StrictPlatformSettings = Field(
        default_factory=StrictPlatformSettings,
        description="How to run the platform if none is running on the cluster yet (port, host, state_dir, ...).",
    )
    base_dir: Path | None = Field(
        None, description="Directory relative model_data paths are resolved against (default: the working "
        "directory of the Ray cluster's processes, i.e. where `serve run` or `ray start` ran).",
    )
    owner: str | None = Field(
        None, min_length=1, max_length=256, pattern=r"^[\w.:/=+\-@ ]+$",
        description="Value of the ownership tag on what this application creates (default: its Serve app name).",
    )

    def resolved_endpoints(self) -> list[EndpointDeclaration]:
        base = self.base_dir or Path.cwd()
        return [e.resolved(base) for e in self.endpoints]


def load(path: Path) -> EndpointsFile:
    """Read an endpoints file (relative model paths are taken from the file's directory),
    or the ``args`` of this platform's application in a Serve config file (taken from its
    ``base_dir``, as the application itself does)."""
    data: Any = yaml.safe_load(path.read_text()) or {}
    if isinstance(data, dict) and "applications" in data:
        args = ServeAppArgs.model_validate(serve_app_args(data, path))
        return EndpointsFile(endpoints=args.resolved_endpoints())
    declared = EndpointsFile.model_validate(data)
    return EndpointsFile(endpoints=[e.resolved(path.parent) for e in declared.endpoints])


def serve_app_args(config: dict, path: Path | str = "config") -> dict:
    """The ``args`` of the one application in a Serve config that runs this platform."""
    apps = [a for a in config.get("applications") or [] if a.get("import_path") == SERVE_APP_IMPORT_PATH]
    if len(apps) != 1:
        raise ValueError(f"{path}: expected one application with import_path {SERVE_APP_IMPORT_PATH}, "
                         f"found {len(apps)}")
    return apps[0].get("args") or {}
