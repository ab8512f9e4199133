"""Provisioned concurrency of endpoint variants, read from the store and changed the way
Application Auto Scaling changes it on SageMaker: as UpdateEndpointWeightsAndCapacities
does, through the control plane's typed method for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable

from serverless_ray.errors import ValidationException
from serverless_ray.spec.endpoint import EndpointStatus
from serverless_ray.store import Store

SetProvisionedFn = Callable[[str, str, int], Awaitable[None]]
"""``(endpoint, variant, provisioned concurrency)``: ControlPlane.set_provisioned_concurrency."""


@dataclass(frozen=True)
class VariantCapacity:
    provisioned: int  # 0 when the variant has no ProvisionedConcurrency
    max_concurrency: int
    in_service: bool


class EndpointCapacity:
    def __init__(self, store: Store, set_provisioned: SetProvisionedFn) -> None:
        self._store = store
        self._set_provisioned = set_provisioned

    def get(self, endpoint: str, variant: str) -> VariantCapacity:
        """The variant's provisioned concurrency, or ``ValidationException`` naming what is missing."""
        record = self._store.endpoints.get(endpoint)
        deployment = record.current if record else None
        if record is None or deployment is None:
            raise ValidationException(f"Endpoint '{endpoint}' does not exist or has no deployed variant.")
        for candidate in deployment.config.ProductionVariants:
            if candidate.VariantName == variant:
                serverless = candidate.ServerlessConfig
                if serverless is None:
                    raise ValidationException(
                        f"Variant '{variant}' of endpoint '{endpoint}' is not serverless: "
                        "provisioned concurrency applies to serverless variants only."
                    )
                return VariantCapacity(
                    provisioned=serverless.ProvisionedConcurrency or 0,
                    max_concurrency=serverless.MaxConcurrency,
                    in_service=record.status == EndpointStatus.IN_SERVICE,
                )
        raise ValidationException(f"Endpoint '{endpoint}' has no variant '{variant}'.")

    async def set(self, endpoint: str, variant: str, provisioned: int) -> None:
        self.get(endpoint, variant)  # the variant exists and is serverless
        await self._set_provisioned(endpoint, variant, provisioned)
