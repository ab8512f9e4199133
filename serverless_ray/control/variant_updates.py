"""How an endpoint's variants change: UpdateEndpoint rules and UpdateEndpointWeightsAndCapacities.

Pure functions over deployments (no store, no Ray), so every rule has a fast test.
"""

from __future__ import annotations

from serverless_ray.errors import ValidationException
from serverless_ray.spec import ProductionVariant, ServerlessConfig
from serverless_ray.spec.endpoint import DesiredWeightAndCapacity, VariantProperty
from serverless_ray.store import Deployment


def check_conversion(current: Deployment, new: Deployment, endpoint_arn: str) -> None:
    """Serverless → instance-based is allowed (one-way); instance-based → serverless is not."""
    if not current.is_serverless and new.is_serverless:
        raise ValidationException(
            f'Endpoint "{endpoint_arn}" is instance-based; updating an instance-based endpoint to a '
            f"serverless endpoint configuration ('{new.config_name}') is currently not supported. "
            "Create a new endpoint for the serverless configuration."
        )


def can_update_in_place(current: Deployment, new: Deployment) -> bool:
    """True when only weights, instance counts or concurrency limits change: the running
    replicas can stay (same variants, models, memory sizes and instance types)."""
    if sorted(v.VariantName for v in current.variants) != sorted(v.VariantName for v in new.variants):
        return False
    for old in current.variants:
        fresh = new.find(old.VariantName)
        assert fresh is not None
        if current.model_for(old.VariantName) != new.model_for(old.VariantName):
            return False
        if old.is_serverless != fresh.is_serverless:
            return False
        if old.ServerlessConfig and fresh.ServerlessConfig:
            if old.ServerlessConfig.MemorySizeInMB != fresh.ServerlessConfig.MemorySizeInMB:
                return False
        elif old.InstanceType != fresh.InstanceType:
            return False
    return True


def retain_properties(current: Deployment, new: Deployment, exclude: list[VariantProperty]) -> Deployment:
    """RetainAllVariantProperties: variants the endpoint already has keep their current
    weight and instance count, except for the property types in ``exclude``."""
    excluded = {p.VariantPropertyType for p in exclude}
    variants = []
    for variant in new.variants:
        old = current.find(variant.VariantName)
        update: dict = {}
        if old is not None and "DesiredWeight" not in excluded:
            update["InitialVariantWeight"] = old.weight
        if (old is not None and "DesiredInstanceCount" not in excluded
                and old.InitialInstanceCount is not None and not variant.is_serverless):
            update["InitialInstanceCount"] = old.InitialInstanceCount
        variants.append(variant.model_copy(update=update) if update else variant)
    return new.with_variants(variants)


def apply_desired(
    deployment: Deployment, desired: list[DesiredWeightAndCapacity], endpoint_arn: str
) -> Deployment:
    """UpdateEndpointWeightsAndCapacities: the deployment with the desired weights,
    instance counts and serverless limits; every variant named must exist and each
    setting must fit the variant's kind."""
    wanted = {d.VariantName: d for d in desired}
    known = [v.VariantName for v in deployment.variants]
    missing = [name for name in wanted if name not in known]
    if missing:
        raise ValidationException(
            f'The variant(s) {missing} are not present in endpoint "{endpoint_arn}"; its variants are {known}.'
        )
    variants = [_apply_one(v, wanted[v.VariantName]) if v.VariantName in wanted else v for v in deployment.variants]
    if sum(v.weight for v in variants) <= 0:
        raise ValidationException(
            f'The desired weights would give every variant of endpoint "{endpoint_arn}" a weight of 0; '
            "at least one variant must receive traffic."
        )
    return deployment.with_variants(variants)


def _apply_one(variant: ProductionVariant, desired: DesiredWeightAndCapacity) -> ProductionVariant:
    name = variant.VariantName
    update: dict = {}
    if desired.DesiredWeight is not None:
        update["InitialVariantWeight"] = desired.DesiredWeight
    if variant.ServerlessConfig is not None:
        if desired.DesiredInstanceCount is not None:
            raise ValidationException(
                f"Variant '{name}' is serverless: DesiredInstanceCount applies to instance-based variants; "
                "change its concurrency with ServerlessUpdateConfig."
            )
        if desired.ServerlessUpdateConfig is not None:
            update["ServerlessConfig"] = _serverless_update(variant.ServerlessConfig, desired, name)
    else:
        if desired.ServerlessUpdateConfig is not None:
            raise ValidationException(
                f"Variant '{name}' is instance-based ({variant.InstanceType}): ServerlessUpdateConfig applies "
                "to serverless variants; change its capacity with DesiredInstanceCount."
            )
        if desired.DesiredInstanceCount is not None:
            if desired.DesiredInstanceCount < 1:
                raise ValidationException(
                    f"DesiredInstanceCount '{desired.DesiredInstanceCount}' of variant '{name}' must be at "
                    "least 1: instance-based variants do not scale to zero."
                )
            update["InitialInstanceCount"] = desired.DesiredInstanceCount
    return variant.model_copy(update=update) if update else variant


def _serverless_update(current: ServerlessConfig, desired: DesiredWeightAndCapacity, name: str) -> ServerlessConfig:
    change = desired.ServerlessUpdateConfig
    assert change is not None
    max_concurrency = change.MaxConcurrency or current.MaxConcurrency
    provisioned = change.ProvisionedConcurrency if change.ProvisionedConcurrency is not None else current.ProvisionedConcurrency
    if provisioned is not None and provisioned > max_concurrency:
        raise ValidationException(
            f"ProvisionedConcurrency '{provisioned}' of variant '{name}' must be less than or equal to "
            f"MaxConcurrency ({max_concurrency})."
        )
    return ServerlessConfig(
        MemorySizeInMB=current.MemorySizeInMB, MaxConcurrency=max_concurrency, ProvisionedConcurrency=provisioned
    )
