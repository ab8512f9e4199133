"""The SageMaker hosting operations over the store, the rollout and the route board.

Each operation takes a validated request (``serverless_ray.spec``), checks references
and state, commits to the store, and only then answers; endpoint work that takes time
(loading a model) continues in :class:`~serverless_ray.control.rollout.Rollout`.
The model registry (:mod:`~serverless_ray.control.registry`) and tagging
(:mod:`~serverless_ray.control.tags`) bring their own operations into the same table.
"""

from __future__ import annotations

import time
from typing import Any, Awaitable, Callable

from serverless_ray import spec
from serverless_ray.autoscaling.floor import FloorWatch
from serverless_ray.cluster_names import app_name_for
from serverless_ray.control import describe
from serverless_ray.control.registry import ModelRegistry
from serverless_ray.control.rollout import Rollout
from serverless_ray.control.tags import Tagging
from serverless_ray.control.variant_updates import (
    apply_desired,
    can_update_in_place,
    check_conversion,
    retain_properties,
)
from serverless_ray.errors import ValidationException
from serverless_ray.quota.limits import endpoint_count_exceeded
from serverless_ray.settings import PlatformSettings
from serverless_ray.spec.arns import sagemaker_arn
from serverless_ray.spec.endpoint import (
    DesiredWeightAndCapacity,
    EndpointStatus,
    ServerlessUpdate,
    UpdateEndpointWeightsAndCapacitiesInput,
)
from serverless_ray.spec.hosting_rules import check_runnable, check_serverless_model
from serverless_ray.spec.listing import filter_and_sort, page_body, paginate
from serverless_ray.store import Deployment, EndpointConfigRecord, EndpointRecord, ModelRecord, Store

Handler = Callable[[Any], Awaitable[dict[str, Any]]]


class ControlPlane:
    """Implements the ``SageMaker.*`` operations this platform supports."""

    def __init__(
        self, settings: PlatformSettings, store: Store, rollout: Rollout, clock=None, floors: FloorWatch | None = None
    ) -> None:
        self._settings = settings
        self._floors = floors or FloorWatch()
        self._store = store
        self._rollout = rollout
        # SageMaker reports times with millisecond precision.
        self._clock = clock or (lambda: round(time.time(), 3))
        self._tagging = Tagging(
            region=settings.region, account_id=settings.account_id, store=store, exists=self._exists
        )
        self._registry = ModelRegistry(
            region=settings.region, account_id=settings.account_id, store=store, clock=self._clock,
            on_create=self._tagging.attach, on_delete=self._tagging.drop,
        )
        self.operations: dict[str, tuple[type, Handler]] = {
            "CreateModel": (spec.CreateModelInput, self.create_model),
            "DescribeModel": (spec.ModelNameInput, self.describe_model),
            "DeleteModel": (spec.ModelNameInput, self.delete_model),
            "ListModels": (spec.ListInput, self.list_models),
            "CreateEndpointConfig": (spec.CreateEndpointConfigInput, self.create_endpoint_config),
            "DescribeEndpointConfig": (spec.EndpointConfigNameInput, self.describe_endpoint_config),
            "DeleteEndpointConfig": (spec.EndpointConfigNameInput, self.delete_endpoint_config),
            "ListEndpointConfigs": (spec.ListInput, self.list_endpoint_configs),
            "CreateEndpoint": (spec.CreateEndpointInput, self.create_endpoint),
            "DescribeEndpoint": (spec.EndpointNameInput, self.describe_endpoint),
            "UpdateEndpoint": (spec.UpdateEndpointInput, self.update_endpoint),
            "DeleteEndpoint": (spec.EndpointNameInput, self.delete_endpoint),
            "ListEndpoints": (spec.ListEndpointsInput, self.list_endpoints),
            "UpdateEndpointWeightsAndCapacities": (
                UpdateEndpointWeightsAndCapacitiesInput, self.update_endpoint_weights_and_capacities,
            ),
            **self._registry.operations,
            **self._tagging.operations,
        }

    async def call(self, operation: str, payload: Any) -> dict[str, Any]:
        """Validate ``payload`` for ``operation`` and run it."""
        from serverless_ray.errors import UnknownOperationException

        if operation not in self.operations:
            raise UnknownOperationException(f"Operation SageMaker.{operation} is not supported by this platform.")
        shape, handler = self.operations[operation]
        return await handler(spec.parse(shape, payload))

    def _arn(self, kind: str, name: str) -> str:
        return sagemaker_arn(self._settings.region, self._settings.account_id, kind, name)

    # --- models ----------------------------------------------------------------------

    async def create_model(self, req: spec.CreateModelInput) -> dict[str, Any]:
        arn = self._arn("model", req.ModelName)
        self._registry.check_model(req)  # named packages exist and are approved
        record = ModelRecord(name=req.ModelName, arn=arn, created=self._clock(), spec=req)
        if not self._store.models.insert(req.ModelName, record):
            raise ValidationException(f'Cannot create already existing model "{arn}".')
        self._tagging.attach(arn, req.Tags)
        return {"ModelArn": arn}

    async def describe_model(self, req: spec.ModelNameInput) -> dict[str, Any]:
        return describe.model(self._model(req.ModelName))

    async def delete_model(self, req: spec.ModelNameInput) -> dict[str, Any]:
        if not self._store.models.delete(req.ModelName):
            raise self._not_found("model", req.ModelName)
        self._tagging.drop(self._arn("model", req.ModelName))
        return {}

    async def list_models(self, req: spec.ListInput) -> dict[str, Any]:
        items = filter_and_sort(self._store.models.all(), req, name=lambda r: r.name, created=lambda r: r.created)
        page, token = paginate(items, req)
        return page_body("Models", [describe.model_summary(r) for r in page], token)

    # --- endpoint configs ------------------------------------------------------------

    async def create_endpoint_config(self, req: spec.CreateEndpointConfigInput) -> dict[str, Any]:
        for variant in req.ProductionVariants:
            model = self._model(variant.ModelName)  # AWS checks the model exists here already
            if variant.is_serverless:  # and whether a serverless variant can host it
                check_serverless_model(model.spec, variant.VariantName, self._settings.account_id)
        arn = self._arn("endpoint-config", req.EndpointConfigName)
        record = EndpointConfigRecord(name=req.EndpointConfigName, arn=arn, created=self._clock(), spec=req)
        if not self._store.endpoint_configs.insert(req.EndpointConfigName, record):
            raise ValidationException(f'Cannot create already existing endpoint configuration "{arn}".')
        self._tagging.attach(arn, req.Tags)
        return {"EndpointConfigArn": arn}

    async def describe_endpoint_config(self, req: spec.EndpointConfigNameInput) -> dict[str, Any]:
        return describe.endpoint_config(self._config(req.EndpointConfigName))

    async def delete_endpoint_config(self, req: spec.EndpointConfigNameInput) -> dict[str, Any]:
        # Allowed while endpoints use it: they own a snapshot of what they run.
        if not self._store.endpoint_configs.delete(req.EndpointConfigName):
            raise self._not_found("endpoint-config", req.EndpointConfigName)
        self._tagging.drop(self._arn("endpoint-config", req.EndpointConfigName))
        return {}

    async def list_endpoint_configs(self, req: spec.ListInput) -> dict[str, Any]:
        items = filter_and_sort(
            self._store.endpoint_configs.all(), req, name=lambda r: r.name, created=lambda r: r.created
        )
        page, token = paginate(items, req)
        return page_body("EndpointConfigs", [describe.endpoint_config_summary(r) for r in page], token)

    # --- endpoints -------------------------------------------------------------------

    async def create_endpoint(self, req: spec.CreateEndpointInput) -> dict[str, Any]:
        arn = self._arn("endpoint", req.EndpointName)
        if self._store.endpoints.get(req.EndpointName) is not None:
            raise ValidationException(f'Cannot create already existing endpoint "{arn}".')
        now = self._clock()
        deployment = self._snapshot(req.EndpointName, req.EndpointConfigName, generation=1, now=now)
        if deployment.config.is_serverless:
            self._check_endpoint_quota(exclude=None)
        record = EndpointRecord(
            name=req.EndpointName, arn=arn, created=now, modified=now, status=EndpointStatus.CREATING,
            pending=deployment, next_generation=2,
        )
        if not self._store.endpoints.insert(req.EndpointName, record):
            raise ValidationException(f'Cannot create already existing endpoint "{arn}".')
        self._tagging.attach(arn, req.Tags)
        self._rollout.start(req.EndpointName)
        return {"EndpointArn": arn}

    async def describe_endpoint(self, req: spec.EndpointNameInput) -> dict[str, Any]:
        return describe.endpoint(self._endpoint(req.EndpointName), shortfall=self._floors.shortfall)

    async def update_endpoint(self, req: spec.UpdateEndpointInput) -> dict[str, Any]:
        record = self._endpoint(req.EndpointName)
        if record.status != EndpointStatus.IN_SERVICE:
            raise self._in_progress(record)
        now = self._clock()
        deployment = self._snapshot(
            record.name, req.EndpointConfigName, generation=record.next_generation, now=now
        )
        assert record.current is not None
        check_conversion(record.current, deployment, record.arn)
        if req.RetainAllVariantProperties:
            deployment = retain_properties(record.current, deployment, req.ExcludeRetainedVariantProperties)
        if deployment.config.is_serverless and not _is_serverless(record):
            self._check_endpoint_quota(exclude=record.name)
        if can_update_in_place(record.current, deployment):
            deployment = deployment.model_copy(update={"app_name": record.current.app_name,
                                                       "generation": record.current.generation})
        updated = record.model_copy(update={
            "status": EndpointStatus.UPDATING, "modified": now, "pending": deployment, "failure_reason": None,
            "next_generation": record.next_generation + 1,
        })
        self._store.endpoints.put(record.name, updated)
        self._rollout.start(record.name)
        return {"EndpointArn": record.arn}

    async def update_endpoint_weights_and_capacities(
        self, req: UpdateEndpointWeightsAndCapacitiesInput
    ) -> dict[str, Any]:
        """New weights, instance counts or serverless limits for the running variants:
        the same deployment (no new config), changed in place."""
        record = self._apply_desired(req.EndpointName, req.DesiredWeightsAndCapacities)
        return {"EndpointArn": record.arn}

    async def set_provisioned_concurrency(self, endpoint: str, variant: str, provisioned: int) -> None:
        """Application Auto Scaling's change of a serverless variant's ProvisionedConcurrency:
        what UpdateEndpointWeightsAndCapacities does with a ServerlessUpdateConfig of it alone."""
        if provisioned < 1:
            raise ValidationException(
                f"ProvisionedConcurrency '{provisioned}' of variant '{variant}' must be at least 1."
            )
        change = DesiredWeightAndCapacity(
            VariantName=variant, ServerlessUpdateConfig=ServerlessUpdate(ProvisionedConcurrency=provisioned)
        )
        self._apply_desired(endpoint, [change])

    def _apply_desired(self, endpoint: str, desired: list[DesiredWeightAndCapacity]) -> EndpointRecord:
        record = self._endpoint(endpoint)
        if record.status != EndpointStatus.IN_SERVICE:
            raise self._in_progress(record)
        assert record.current is not None
        now = self._clock()
        pending = apply_desired(record.current, desired, record.arn)
        updated = record.model_copy(update={
            "status": EndpointStatus.UPDATING, "modified": now, "pending": pending.model_copy(update={"started": now}),
            "failure_reason": None,
        })
        self._store.endpoints.put(record.name, updated)
        self._rollout.start(record.name)
        return updated

    async def delete_endpoint(self, req: spec.EndpointNameInput) -> dict[str, Any]:
        record = self._endpoint(req.EndpointName)
        if record.status in (EndpointStatus.CREATING, EndpointStatus.UPDATING):
            raise self._in_progress(record)
        if record.status != EndpointStatus.DELETING:
            record = record.model_copy(update={"status": EndpointStatus.DELETING, "modified": self._clock()})
            self._store.endpoints.put(record.name, record)
            self._rollout.start(record.name)
            self._tagging.drop(record.arn)
        return {}

    async def list_endpoints(self, req: spec.ListEndpointsInput) -> dict[str, Any]:
        items = filter_and_sort(
            self._store.endpoints.all(), req, name=lambda r: r.name, created=lambda r: r.created,
            modified=lambda r: r.modified, status=lambda r: r.status,
        )
        page, token = paginate(items, req)
        return page_body("Endpoints", [describe.endpoint_summary(r) for r in page], token)

    # --- helpers ---------------------------------------------------------------------

    def _snapshot(self, endpoint: str, config_name: str, *, generation: int, now: float) -> Deployment:
        config = self._config(config_name).spec
        models = {v.VariantName: self._deployable_model(v) for v in config.ProductionVariants}
        return Deployment(
            config_name=config.EndpointConfigName, config=config, models=models, generation=generation,
            app_name=app_name_for(endpoint, generation), started=now,
        )

    def _check_endpoint_quota(self, *, exclude: str | None) -> None:
        """At most ``max_endpoints`` serverless endpoints per account (ResourceLimitExceeded)."""
        current = sum(
            1 for r in self._store.endpoints.all()
            if r.name.lower() != (exclude or "").lower() and _is_serverless(r)
        )
        if current + 1 > self._settings.max_endpoints:
            raise endpoint_count_exceeded(self._settings.max_endpoints, current)

    def _deployable_model(self, variant: spec.ProductionVariant) -> spec.CreateModelInput:
        """The variant's model with its packages resolved, or a ValidationException saying
        why the variant cannot host it (checked before anything is created)."""
        model = self._model(variant.ModelName).spec
        account = self._settings.account_id
        if variant.is_serverless:
            check_serverless_model(model, variant.VariantName, account)
        resolved = self._registry.resolve(model)
        if variant.is_serverless:
            check_serverless_model(resolved, variant.VariantName, account)
        check_runnable(resolved, variant.VariantName)
        return resolved

    def _exists(self, kind: str, name: str) -> bool:
        """Whether the resource named in an ARN exists (for tagging)."""
        tables = {"model": self._store.models, "endpoint-config": self._store.endpoint_configs,
                  "endpoint": self._store.endpoints}
        if kind in tables:
            return tables[kind].get(name) is not None
        return self._registry.exists(kind, name)

    def _model(self, name: str | None) -> ModelRecord:
        record = self._store.models.get(name or "")
        if record is None:
            raise self._not_found("model", name or "")
        return record

    def _config(self, name: str) -> EndpointConfigRecord:
        record = self._store.endpoint_configs.get(name)
        if record is None:
            raise self._not_found("endpoint-config", name)
        return record

    def _endpoint(self, name: str) -> EndpointRecord:
        record = self._store.endpoints.get(name)
        if record is None:
            raise self._not_found("endpoint", name)
        return record

    def _not_found(self, kind: str, name: str) -> ValidationException:
        noun = {"model": "model", "endpoint-config": "endpoint configuration", "endpoint": "endpoint"}[kind]
        return ValidationException(f'Could not find {noun} "{self._arn(kind, name)}".')

    @staticmethod
    def _in_progress(record: EndpointRecord) -> ValidationException:
        if record.status in (EndpointStatus.CREATING, EndpointStatus.UPDATING, EndpointStatus.DELETING):
            return ValidationException(f'Cannot update in-progress endpoint "{record.arn}".')
        return ValidationException(
            f'Cannot update endpoint "{record.arn}" in status {record.status}; only InService endpoints can be updated.'
        )


def _is_serverless(record: EndpointRecord) -> bool:
    deployment = record.current or record.pending
    return deployment is not None and deployment.config.is_serverless
