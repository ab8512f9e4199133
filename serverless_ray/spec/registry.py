"""Model registry requests: model package groups and model packages."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from serverless_ray.spec.common import TagList, WireModel
from serverless_ray.spec.listing import ListInput
from serverless_ray.spec import names as n

ApprovalStatus = Literal["Approved", "Rejected", "PendingManualApproval"]


class CreateModelPackageGroupInput(WireModel):
    ModelPackageGroupName: n.ModelPackageGroupName = Field(description="Unique (case-insensitive) group name.")
    ModelPackageGroupDescription: n.Description | None = None
    Tags: TagList = Field(default_factory=list, description="Tags of the new group (up to 50).")


class ModelPackageGroupNameInput(WireModel):
    ModelPackageGroupName: n.ModelPackageGroupRef = Field(description="Group name or ARN.")


class ModelPackageContainer(WireModel):
    """A container of a package's inference specification."""

    Image: n.Image = Field(description="Image URI; recorded, as for models.")
    ModelDataUrl: n.ModelDataUrl | None = Field(None, description="model.tar.gz of this version.")
    Environment: dict[n.EnvironmentKey, n.EnvironmentValue] = Field(default_factory=dict, max_length=100)
    ContainerHostname: str | None = Field(None, max_length=63)
    ImageDigest: str | None = Field(None, max_length=72)
    Framework: str | None = None
    FrameworkVersion: str | None = Field(None, max_length=10)
    NearestModelName: str | None = None


class PackageInferenceSpecification(WireModel):
    Containers: list[ModelPackageContainer] = Field(min_length=1, max_length=15)
    SupportedContentTypes: list[str] = Field(default_factory=list)
    SupportedResponseMIMETypes: list[str] = Field(default_factory=list)
    SupportedRealtimeInferenceInstanceTypes: list[str] = Field(default_factory=list)
    SupportedTransformInstanceTypes: list[str] | None = None


class CreateModelPackageInput(WireModel):
    """A versioned package (``ModelPackageGroupName``) or an unversioned one (``ModelPackageName``)."""

    ModelPackageName: n.ModelPackageGroupName | None = Field(None, description="Name of an unversioned package.")
    ModelPackageGroupName: n.ModelPackageGroupRef | None = Field(
        None, description="Group (name or ARN) that the new version joins."
    )
    ModelPackageDescription: n.Description | None = None
    InferenceSpecification: PackageInferenceSpecification | None = Field(
        None, description="The containers that a model created from this package runs."
    )
    ModelApprovalStatus: ApprovalStatus | None = Field(
        None, description="Versioned packages only; default PendingManualApproval. Must be Approved to deploy."
    )
    CertifyForMarketplace: bool = False
    CustomerMetadataProperties: dict[str, str] | None = Field(None, max_length=50)
    Tags: TagList = Field(default_factory=list, description="Tags of the new package (up to 50).")

    @model_validator(mode="after")
    def _versioned_or_not(self):
        if self.ModelPackageName and self.ModelPackageGroupName:
            raise ValueError(
                "Specify ModelPackageGroupName (a versioned package) or ModelPackageName (an unversioned "
                "package), not both."
            )
        if not self.ModelPackageName and not self.ModelPackageGroupName:
            raise ValueError(
                "Either ModelPackageGroupName (a versioned package) or ModelPackageName (an unversioned "
                "package) must be specified."
            )
        if self.InferenceSpecification is None:
            raise ValueError(
                "InferenceSpecification is required: this platform registers packages that name their "
                "container image and model data (algorithm-based packages are not supported)."
            )
        return self


class ModelPackageNameInput(WireModel):
    ModelPackageName: n.ModelPackageRef = Field(description="Package name, 'group/version', or ARN.")


class UpdateModelPackageInput(WireModel):
    ModelPackageArn: n.ModelPackageArn
    ModelApprovalStatus: ApprovalStatus | None = None
    ApprovalDescription: n.Description | None = None
    CustomerMetadataProperties: dict[str, str] | None = Field(None, max_length=50)
    CustomerMetadataPropertiesToRemove: list[str] = Field(default_factory=list)


class ListModelPackageGroupsInput(ListInput):
    pass


class ListModelPackagesInput(ListInput):
    ModelApprovalStatus: ApprovalStatus | None = None
    ModelPackageGroupName: n.ModelPackageGroupRef | None = None
    ModelPackageType: Literal["Versioned", "Unversioned", "Both"] | None = Field(
        None, description="Default Unversioned, or Versioned when ModelPackageGroupName is given."
    )
    CreationTimeBefore: datetime | None = None
    CreationTimeAfter: datetime | None = None
