"""The model registry: groups, versions, approval, and models created from packages."""

import pytest

from plane_harness import ARN, Harness, serverless_variant

SPEC = {"Containers": [{"Image": "pytorch-inference:2.3-cpu", "ModelDataUrl": "s3://models/v1.tar.gz",
                        "Environment": {"FROM_PACKAGE": "1", "SHARED": "package"}}],
        "SupportedContentTypes": ["application/json"], "SupportedResponseMIMETypes": ["application/json"]}


@pytest.fixture
def h(tmp_path):
    harness = Harness(tmp_path)
    harness.call("CreateModelPackageGroup", {"ModelPackageGroupName": "Churn", "ModelPackageGroupDescription": "d"})
    return harness


def version(h, **extra) -> str:
    return h.call("CreateModelPackage", {"ModelPackageGroupName": "Churn", "InferenceSpecification": SPEC,
                                         **extra})["ModelPackageArn"]


def test_group_create_describe_list_and_duplicate(h):
    described = h.call("DescribeModelPackageGroup", {"ModelPackageGroupName": "churn"})
    assert described["ModelPackageGroupArn"] == f"{ARN}:model-package-group/churn"
    assert (described["ModelPackageGroupName"], described["ModelPackageGroupStatus"]) == ("Churn", "Completed")
    assert h.call("DescribeModelPackageGroup", {"ModelPackageGroupName": described["ModelPackageGroupArn"]})
    listed = h.call("ListModelPackageGroups")["ModelPackageGroupSummaryList"]
    assert [g["ModelPackageGroupName"] for g in listed] == ["Churn"]
    message = h.refused("CreateModelPackageGroup", {"ModelPackageGroupName": "CHURN"})
    assert message == f"Model Package Group already exists: {ARN}:model-package-group/churn"


def test_versions_are_numbered_and_start_pending(h):
    first, second = version(h), version(h, ModelApprovalStatus="Approved")
    assert (first, second) == (f"{ARN}:model-package/churn/1", f"{ARN}:model-package/churn/2")
    described = h.call("DescribeModelPackage", {"ModelPackageName": first})
    assert described["ModelPackageGroupName"] == "Churn" and described["ModelPackageVersion"] == 1
    assert described["ModelApprovalStatus"] == "PendingManualApproval"
    assert described["ModelPackageStatus"] == "Completed"
    assert described["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == "s3://models/v1.tar.gz"
    assert h.call("DescribeModelPackage", {"ModelPackageName": "Churn/2"})["ModelApprovalStatus"] == "Approved"
    h.call("DeleteModelPackage", {"ModelPackageName": second})
    assert version(h).endswith("/churn/3")  # numbers are not reused


def test_list_model_packages_filters(h):
    version(h)
    version(h, ModelApprovalStatus="Approved")
    h.call("CreateModelPackage", {"ModelPackageName": "standalone", "InferenceSpecification": SPEC})
    in_group = h.call("ListModelPackages", {"ModelPackageGroupName": "Churn", "SortOrder": "Ascending",
                                            "SortBy": "Name"})["ModelPackageSummaryList"]
    assert [p["ModelPackageVersion"] for p in in_group] == [1, 2]
    assert [p["ModelPackageName"] for p in h.call("ListModelPackages")["ModelPackageSummaryList"]] == ["standalone"]
    both = h.call("ListModelPackages", {"ModelPackageType": "Both"})["ModelPackageSummaryList"]
    assert len(both) == 3
    approved = h.call("ListModelPackages", {"ModelPackageGroupName": "Churn", "ModelApprovalStatus": "Approved"})
    assert [p["ModelPackageArn"] for p in approved["ModelPackageSummaryList"]] == [f"{ARN}:model-package/churn/2"]


def test_unapproved_versions_are_refused_with_a_clear_message(h):
    arn = version(h)
    message = h.refused("CreateModel", {"ModelName": "m", "PrimaryContainer": {"ModelPackageName": arn}})
    assert message == (
        f"Model package {arn} has ModelApprovalStatus 'PendingManualApproval'; only Approved model package "
        "versions can be deployed (model 'm'). Approve it with UpdateModelPackage(ModelApprovalStatus='Approved')."
    )
    assert h.names()[0] == set()
    h.call("UpdateModelPackage", {"ModelPackageArn": arn, "ModelApprovalStatus": "Rejected"})
    assert "'Rejected'" in h.refused("CreateModel", {"ModelName": "m", "PrimaryContainer": {"ModelPackageName": arn}})


def test_approved_version_deploys_to_a_serverless_endpoint(h):
    arn = version(h)
    h.call("UpdateModelPackage", {"ModelPackageArn": arn, "ModelApprovalStatus": "Approved",
                                  "ApprovalDescription": "passed review"})
    assert h.call("DescribeModelPackage", {"ModelPackageName": arn})["ApprovalDescription"] == "passed review"
    h.call("CreateModel", {"ModelName": "from-registry", "Containers": [
        {"ModelPackageName": arn, "Environment": {"SHARED": "model"}}]})
    assert h.call("DescribeModel", {"ModelName": "from-registry"})["Containers"][0]["ModelPackageName"] == arn
    h.call("CreateEndpointConfig", {"EndpointConfigName": "c", "ProductionVariants": [serverless_variant("from-registry")]})
    h.endpoint("e", "c")
    container = h.store.endpoints.get("e").pending.model.PrimaryContainer
    assert container.ModelDataUrl == "s3://models/v1.tar.gz" and container.Image == "pytorch-inference:2.3-cpu"
    assert container.Environment == {"FROM_PACKAGE": "1", "SHARED": "model"}  # the model's own env wins
    described = h.call("DescribeEndpoint", {"EndpointName": "e"})
    images = described["PendingDeploymentSummary"]["ProductionVariants"][0]["DeployedImages"]
    assert images[0]["SpecifiedImage"] == "pytorch-inference:2.3-cpu"


def test_approval_revoked_after_create_model_is_refused_at_create_endpoint(h):
    arn = version(h, ModelApprovalStatus="Approved")
    h.call("CreateModel", {"ModelName": "m", "PrimaryContainer": {"ModelPackageName": arn}})
    h.call("CreateEndpointConfig", {"EndpointConfigName": "c", "ProductionVariants": [serverless_variant("m")]})
    h.call("UpdateModelPackage", {"ModelPackageArn": arn, "ModelApprovalStatus": "PendingManualApproval"})
    assert "only Approved model package versions can be deployed" in h.refused(
        "CreateEndpoint", {"EndpointName": "e", "EndpointConfigName": "c"})
    assert h.names()[2] == set()


def test_unversioned_packages_need_no_approval(h):
    arn = h.call("CreateModelPackage", {"ModelPackageName": "plain", "InferenceSpecification": SPEC})["ModelPackageArn"]
    assert arn == f"{ARN}:model-package/plain"
    assert "ModelApprovalStatus" not in h.call("DescribeModelPackage", {"ModelPackageName": "plain"})
    h.call("CreateModel", {"ModelName": "m", "PrimaryContainer": {"ModelPackageName": "plain"}})
    assert "applies only to versioned" in h.refused(
        "UpdateModelPackage", {"ModelPackageArn": arn, "ModelApprovalStatus": "Approved"})


@pytest.mark.parametrize("payload, expected", [
    ({"ModelPackageGroupName": "nope", "InferenceSpecification": SPEC},
     f'Could not find model package group "{ARN}:model-package-group/nope".'),
    ({"InferenceSpecification": SPEC}, "Either ModelPackageGroupName"),
    ({"ModelPackageGroupName": "Churn", "ModelPackageName": "x", "InferenceSpecification": SPEC}, "not both"),
    ({"ModelPackageGroupName": "Churn"}, "InferenceSpecification is required"),
    ({"ModelPackageGroupName": "Churn", "InferenceSpecification": {"Containers": []}},
     "Value '[]' at 'inferenceSpecification.containers'"),
    ({"ModelPackageGroupName": "Churn", "InferenceSpecification": SPEC, "ModelApprovalStatus": "Maybe"},
     "Member must satisfy enum value set: [Approved, Rejected, PendingManualApproval]"),
])
def test_create_model_package_rules(h, payload, expected):
    assert expected in h.refused("CreateModelPackage", payload)


def test_missing_packages_and_groups(h):
    assert h.refused("DescribeModelPackage", {"ModelPackageName": "Churn/9"}) == (
        f'Could not find model package "{ARN}:model-package/churn/9".')
    assert "Could not find model package" in h.refused(
        "CreateModel", {"ModelName": "m", "PrimaryContainer": {"ModelPackageName": "ghost"}})
    version(h)
    assert "still has 1 model package version(s)" in h.refused("DeleteModelPackageGroup", {"ModelPackageGroupName": "Churn"})
    h.call("DeleteModelPackage", {"ModelPackageName": "Churn/1"})
    h.call("DeleteModelPackageGroup", {"ModelPackageGroupName": "Churn"})
    assert "Could not find model package group" in h.refused("DescribeModelPackageGroup", {"ModelPackageGroupName": "Churn"})
