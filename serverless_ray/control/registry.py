"""The model registry: model package groups, their versions, and unversioned packages.

A model created with ``ModelPackageName`` runs the package's containers. A versioned
package must be ``Approved`` to be deployed (AWS: "for versioned models, the value of
this parameter must be set to Approved to deploy the model"); approval is checked when
the model is created and again when an endpoint deploys it, since it can be revoked.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from serverless_ray.errors import ValidationException
from serverless_ray.spec import ContainerDefinition, CreateModelInput
from serverless_ray.spec.arns import sagemaker_arn
from serverless_ray.spec.common import Tag
from serverless_ray.spec.hosting_rules import is_foreign_package
from serverless_ray.spec.listing import filter_and_sort, page_body, paginate
from serverless_ray.spec.registry import (
    CreateModelPackageGroupInput,
    CreateModelPackageInput,
    ListModelPackageGroupsInput,
    ListModelPackagesInput,
    ModelPackageGroupNameInput,
    ModelPackageNameInput,
    UpdateModelPackageInput,
)
from serverless_ray.store import ModelPackageGroupRecord, ModelPackageRecord, Store

Handler = Callable[[Any], Awaitable[dict[str, Any]]]
ARN_MARKER = ":model-package/"
GROUP_ARN_MARKER = ":model-package-group/"


class ModelRegistry:
    """Implements the model registry operations and resolves packages for deployments."""

    def __init__(
        self,
        *,
        region: str,
        account_id: str,
        store: Store,
        clock: Callable[[], float],
        on_create: Callable[[str, list[Tag]], None] = lambda arn, tags: None,
        on_delete: Callable[[str], None] = lambda arn: None,
    ) -> None:
        self._region = region
        self._account_id = account_id
        self._store = store
        self._clock = clock
        self._on_create = on_create  # called with a new group's or package's ARN and Tags
        self._on_delete = on_delete  # called with the ARN of a deleted group or package
        self.operations: dict[str, tuple[type, Handler]] = {
            "CreateModelPackageGroup": (CreateModelPackageGroupInput, self.create_group),
            "DescribeModelPackageGroup": (ModelPackageGroupNameInput, self.describe_group),
            "ListModelPackageGroups": (ListModelPackageGroupsInput, self.list_groups),
            "DeleteModelPackageGroup": (ModelPackageGroupNameInput, self.delete_group),
            "CreateModelPackage": (CreateModelPackageInput, self.create_package),
            "DescribeModelPackage": (ModelPackageNameInput, self.describe_package),
            "ListModelPackages": (ListModelPackagesInput, self.list_packages),
            "UpdateModelPackage": (UpdateModelPackageInput, self.update_package),
            "DeleteModelPackage": (ModelPackageNameInput, self.delete_package),
        }

    def _arn(self, kind: str, name: str) -> str:
        return sagemaker_arn(self._region, self._account_id, kind, name)

    # --- groups ----------------------------------------------------------------------

    async def create_group(self, req: CreateModelPackageGroupInput) -> dict[str, Any]:
        arn = self._arn("model-package-group", req.ModelPackageGroupName)
        record = ModelPackageGroupRecord(name=req.ModelPackageGroupName, arn=arn, created=self._clock(), spec=req)
        if not self._store.model_package_groups.insert(req.ModelPackageGroupName, record):
            # The SageMaker SDK recognises an existing group by "already exists".
            raise ValidationException(f"Model Package Group already exists: {arn}")
        self._on_create(arn, req.Tags)
        return {"ModelPackageGroupArn": arn}

    async def describe_group(self, req: ModelPackageGroupNameInput) -> dict[str, Any]:
        group = self._group(req.ModelPackageGroupName)
        body = {
            "ModelPackageGroupName": group.name,
            "ModelPackageGroupArn": group.arn,
            "CreationTime": group.created,
            "ModelPackageGroupStatus": "Completed",
        }
        if group.spec.ModelPackageGroupDescription is not None:
            body["ModelPackageGroupDescription"] = group.spec.ModelPackageGroupDescription
        return body

    async def list_groups(self, req: ListModelPackageGroupsInput) -> dict[str, Any]:
        items = filter_and_sort(
            self._store.model_package_groups.all(), req, name=lambda g: g.name, created=lambda g: g.created
        )
        page, token = paginate(items, req)
        return page_body("ModelPackageGroupSummaryList", [await self.describe_group(
            ModelPackageGroupNameInput(ModelPackageGroupName=g.name)) for g in page], token)

    async def delete_group(self, req: ModelPackageGroupNameInput) -> dict[str, Any]:
        group = self._group(req.ModelPackageGroupName)
        versions = [p for p in self._store.model_packages.all() if (p.group or "").lower() == group.name.lower()]
        if versions:
            raise ValidationException(
                f"Cannot delete model package group {group.arn}: it still has {len(versions)} model "
                "package version(s); delete them first."
            )
        self._store.model_package_groups.delete(group.name)
        self._on_delete(group.arn)
        return {}

    # --- packages --------------------------------------------------------------------

    async def create_package(self, req: CreateModelPackageInput) -> dict[str, Any]:
        now = self._clock()
        if req.ModelPackageGroupName:
            group = self._group(req.ModelPackageGroupName)
            version = group.next_version
            key = f"{group.name}/{version}"
            record = ModelPackageRecord(
                key=key, name=group.name, group=group.name, version=version,
                arn=self._arn("model-package", key), created=now, modified=now, spec=req,
                approval=req.ModelApprovalStatus or "PendingManualApproval",
                metadata=dict(req.CustomerMetadataProperties or {}),
            )
            # The version number is taken first so that it is never handed out twice.
            self._store.model_package_groups.put(group.name, group.model_copy(update={"next_version": version + 1}))
            self._store.model_packages.put(key, record)
            self._on_create(record.arn, req.Tags)
            return {"ModelPackageArn": record.arn}
        name = req.ModelPackageName or ""
        arn = self._arn("model-package", name)
        record = ModelPackageRecord(
            key=name, name=name, arn=arn, created=now, modified=now, spec=req,
            metadata=dict(req.CustomerMetadataProperties or {}),
        )
        if not self._store.model_packages.insert(name, record):
            raise ValidationException(f"Model Package already exists: {arn}")
        self._on_create(arn, req.Tags)
        return {"ModelPackageArn": arn}

    async def describe_package(self, req: ModelPackageNameInput) -> dict[str, Any]:
        return _describe_package(self._package(req.ModelPackageName))

    async def list_packages(self, req: ListModelPackagesInput) -> dict[str, Any]:
        kind = req.ModelPackageType or ("Versioned" if req.ModelPackageGroupName else "Unversioned")
        items = self._store.model_packages.all()
        if kind != "Both":
            items = [p for p in items if (p.version is not None) == (kind == "Versioned")]
        if req.ModelPackageGroupName:
            group = self._group(req.ModelPackageGroupName)
            items = [p for p in items if (p.group or "").lower() == group.name.lower()]
        if req.ModelApprovalStatus:
            items = [p for p in items if p.approval == req.ModelApprovalStatus]
        # Versions of one group share a name; the version number orders them.
        items = filter_and_sort(items, req, name=lambda p: f"{p.name}/{p.version or 0:09d}", created=lambda p: p.created)
        page, token = paginate(items, req)
        return page_body("ModelPackageSummaryList", [_package_summary(p) for p in page], token)

    async def update_package(self, req: UpdateModelPackageInput) -> dict[str, Any]:
        record = self._package(req.ModelPackageArn)
        update: dict[str, Any] = {"modified": self._clock()}
        if req.ModelApprovalStatus is not None:
            if record.version is None:
                raise ValidationException(
                    f"Model package {record.arn} is unversioned: ModelApprovalStatus applies only to "
                    "versioned model packages (versions of a model package group)."
                )
            update["approval"] = req.ModelApprovalStatus
        if req.ApprovalDescription is not None:
            update["approval_description"] = req.ApprovalDescription
        metadata = {**record.metadata, **(req.CustomerMetadataProperties or {})}
        for key in req.CustomerMetadataPropertiesToRemove:
            metadata.pop(key, None)
        update["metadata"] = metadata
        self._store.model_packages.put(record.key, record.model_copy(update=update))
        return {"ModelPackageArn": record.arn}

    async def delete_package(self, req: ModelPackageNameInput) -> dict[str, Any]:
        record = self._package(req.ModelPackageName)
        self._store.model_packages.delete(record.key)
        self._on_delete(record.arn)
        return {}

    # --- models created from packages -------------------------------------------------

    def check_model(self, model: CreateModelInput) -> None:
        """CreateModel: every package the model names exists and may be deployed."""
        for container in model.containers:
            package = container.ModelPackageName
            if package and not is_foreign_package(package, self._account_id):
                self._deployable(self._package(package), model.ModelName)

    def resolve(self, model: CreateModelInput) -> CreateModelInput:
        """The model with each package replaced by the package's containers.

        A container's own ``Environment`` is laid over the package container's. A package
        of another account cannot be resolved: this platform has no such registry.
        """
        if not any(c.ModelPackageName for c in model.containers):
            return model
        containers: list[ContainerDefinition] = []
        for container in model.containers:
            if not container.ModelPackageName:
                containers.append(container)
                continue
            if is_foreign_package(container.ModelPackageName, self._account_id):
                raise ValidationException(
                    f"Model '{model.ModelName}' uses model package '{container.ModelPackageName}' of another "
                    f"account: this platform hosts only packages of its own registry (account {self._account_id})."
                )
            record = self._deployable(self._package(container.ModelPackageName), model.ModelName)
            assert record.spec.InferenceSpecification is not None
            for spec in record.spec.InferenceSpecification.Containers:
                containers.append(ContainerDefinition(
                    Image=spec.Image, ModelDataUrl=spec.ModelDataUrl,
                    Environment={**spec.Environment, **container.Environment},
                    ModelPackageName=record.arn, ContainerHostname=spec.ContainerHostname,
                ))
        if len(containers) == 1:
            return model.model_copy(update={"PrimaryContainer": containers[0], "Containers": None})
        return model.model_copy(update={"PrimaryContainer": None, "Containers": containers})

    def _deployable(self, record: ModelPackageRecord, model_name: str) -> ModelPackageRecord:
        if record.version is not None and record.approval != "Approved":
            raise ValidationException(
                f"Model package {record.arn} has ModelApprovalStatus '{record.approval}'; only Approved "
                f"model package versions can be deployed (model '{model_name}'). Approve it with "
                "UpdateModelPackage(ModelApprovalStatus='Approved')."
            )
        return record

    # --- lookups ---------------------------------------------------------------------

    def _group(self, ref: str) -> ModelPackageGroupRecord:
        name = ref.rsplit("/", 1)[-1] if ref.startswith("arn:") else ref
        record = self._store.model_package_groups.get(name) if self._ours(ref, GROUP_ARN_MARKER) else None
        if record is None:
            raise ValidationException(f'Could not find model package group "{self._arn("model-package-group", name)}".')
        return record

    def _package(self, ref: str) -> ModelPackageRecord:
        key = ref.split(ARN_MARKER, 1)[1] if ARN_MARKER in ref else ref
        record = self._store.model_packages.get(key) if self._ours(ref, ARN_MARKER) else None
        if record is None:
            raise ValidationException(
                f'Could not find model package "{ref if ref.startswith("arn:") else self._arn("model-package", key)}".'
            )
        return record

    def _ours(self, ref: str, marker: str) -> bool:
        """A plain name, or an ARN of this platform's region and account and the right kind."""
        if not ref.startswith("arn:"):
            return True
        prefix = f":sagemaker:{self._region}:{self._account_id}{marker}"
        return prefix in ref

    def exists(self, kind: str, name: str) -> bool:
        """Whether a group or package named as in its ARN exists (for tagging)."""
        table = self._store.model_package_groups if kind == "model-package-group" else self._store.model_packages
        return table.get(name) is not None


def _describe_package(record: ModelPackageRecord) -> dict[str, Any]:
    spec = record.spec
    body: dict[str, Any] = {
        "ModelPackageName": record.name,
        "ModelPackageArn": record.arn,
        "CreationTime": record.created,
        "LastModifiedTime": record.modified,
        "ModelPackageStatus": "Completed",
        "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
        "CertifyForMarketplace": spec.CertifyForMarketplace,
    }
    if record.group is not None:
        body.update(ModelPackageGroupName=record.group, ModelPackageVersion=record.version)
    if record.approval is not None:
        body["ModelApprovalStatus"] = record.approval
    if record.approval_description is not None:
        body["ApprovalDescription"] = record.approval_description
    if spec.ModelPackageDescription is not None:
        body["ModelPackageDescription"] = spec.ModelPackageDescription
    if spec.InferenceSpecification is not None:
        body["InferenceSpecification"] = spec.InferenceSpecification.model_dump(mode="json", exclude_none=True)
    if record.metadata:
        body["CustomerMetadataProperties"] = dict(record.metadata)
    return body


def _package_summary(record: ModelPackageRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ModelPackageName": record.name,
        "ModelPackageArn": record.arn,
        "CreationTime": record.created,
        "ModelPackageStatus": "Completed",
    }
    if record.group is not None:
        body.update(ModelPackageGroupName=record.group, ModelPackageVersion=record.version)
    if record.approval is not None:
        body["ModelApprovalStatus"] = record.approval
    if record.spec.ModelPackageDescription is not None:
        body["ModelPackageDescription"] = record.spec.ModelPackageDescription
    return body
