"""Rules that join a model to the variant that hosts it (checked before anything is created).

AWS documents features that serverless endpoints do not offer; some of them are
properties of the model (its containers, its network settings, where its image comes
from), so they can only be checked once a model meets a serverless variant: when the
endpoint config names the model and again when the endpoint is created or updated.
A second set of rules says what this platform cannot run on any endpoint.
"""

from __future__ import annotations

import re

from serverless_ray.errors import ValidationException
from serverless_ray.spec.model import ContainerDefinition, CreateModelInput

_PACKAGE_ARN = re.compile(r"^arn:aws[a-z\-]*:sagemaker:([a-z0-9\-]*):(\d{12}):model-package/(.+)$")


def package_account(model_package_name: str) -> str | None:
    """The account in a model package ARN (None for a plain name)."""
    match = _PACKAGE_ARN.match(model_package_name)
    return match.group(2) if match else None


def is_foreign_package(model_package_name: str, account_id: str) -> bool:
    """A package ARN of another account: in SageMaker, an AWS Marketplace subscription."""
    account = package_account(model_package_name)
    return account is not None and account != account_id


def check_serverless_model(model: CreateModelInput, variant_name: str, account_id: str) -> None:
    """Refuse a model that a serverless variant cannot host, naming the feature."""
    where = f"Model '{model.ModelName}' (variant '{variant_name}')"
    containers = model.containers
    if len(containers) > 1:
        raise ValidationException(
            f"{where} has {len(containers)} containers: inference pipelines are not supported for "
            "serverless endpoints."
        )
    if model.VpcConfig:
        raise ValidationException(f"{where} sets VpcConfig: VPC configuration is not supported for serverless endpoints.")
    if model.EnableNetworkIsolation:
        raise ValidationException(
            f"{where} sets EnableNetworkIsolation: network isolation is not supported for serverless endpoints."
        )
    for container in containers:
        _check_serverless_container(container, where, account_id)


def _check_serverless_container(container: ContainerDefinition, where: str, account_id: str) -> None:
    if container.Mode == "MultiModel":
        raise ValidationException(
            f"{where} uses Mode=MultiModel: multi-model endpoints are not supported for serverless endpoints."
        )
    access_mode = (container.ImageConfig or {}).get("RepositoryAccessMode")
    if access_mode == "Vpc":
        raise ValidationException(
            f"{where} pulls image '{container.Image}' from a private registry "
            "(ImageConfig.RepositoryAccessMode=Vpc): private Docker registries are not supported for "
            "serverless endpoints."
        )
    if container.ModelDataSource:
        raise ValidationException(
            f"{where} sets ModelDataSource: uncompressed model data is not supported for serverless "
            "endpoints; use ModelDataUrl with a model.tar.gz."
        )
    package = container.ModelPackageName
    if package and is_foreign_package(package, account_id):
        raise ValidationException(
            f"{where} uses model package '{package}' of account {package_account(package)}: AWS Marketplace "
            "model packages are not supported for serverless endpoints."
        )


def check_runnable(model: CreateModelInput, variant_name: str) -> None:
    """Refuse what this platform cannot run on any endpoint (the model must already have
    its model packages resolved into containers)."""
    where = f"Model '{model.ModelName}' (variant '{variant_name}')"
    containers = model.containers
    if len(containers) > 1:
        raise ValidationException(
            f"{where} has {len(containers)} containers: inference pipelines are not supported by this platform."
        )
    if model.EnableNetworkIsolation:
        raise ValidationException(
            f"{where} sets EnableNetworkIsolation: network isolation is not supported by this platform; "
            "replicas share the network of their Ray node."
        )
    container = containers[0]
    if container.Mode == "MultiModel":
        raise ValidationException(f"{where} uses Mode=MultiModel: multi-model endpoints are not supported by this platform.")
    if container.ModelDataSource and not container.ModelDataUrl:
        raise ValidationException(
            f"{where} sets ModelDataSource: this platform reads model data from ModelDataUrl (a model.tar.gz)."
        )
    if not container.ModelDataUrl:
        raise ValidationException(
            f"{where} has no ModelDataUrl: this platform runs the SageMaker inference handler contract from "
            "model data (model.tar.gz with code/inference.py) and does not pull container images."
        )
