"""Tags on create calls, AddTags, ListTags and DeleteTags by ARN."""

import pytest

from plane_harness import ARN, Harness, serverless_variant


@pytest.fixture
def h(tmp_path):
    harness = Harness(tmp_path)
    harness.call("CreateModel", {"ModelName": "MyModel", "Tags": [{"Key": "team", "Value": "ml"}],
                                 "PrimaryContainer": {"Image": "i", "ModelDataUrl": "s3://b/m.tar.gz"}})
    return harness


MODEL_ARN = f"{ARN}:model/mymodel"


def tags(h, arn):
    return {t["Key"]: t["Value"] for t in h.call("ListTags", {"ResourceArn": arn})["Tags"]}


def test_tags_of_create_calls_are_listed(h):
    assert tags(h, MODEL_ARN) == {"team": "ml"}
    h.call("CreateEndpointConfig", {"EndpointConfigName": "c", "ProductionVariants": [serverless_variant("MyModel")],
                                    "Tags": [{"Key": "cost-center", "Value": "42"}]})
    h.endpoint("Ep", "c", Tags=[{"Key": "env", "Value": "prod"}, {"Key": "empty"}])
    h.call("CreateModelPackageGroup", {"ModelPackageGroupName": "g", "Tags": [{"Key": "k", "Value": "v"}]})
    assert tags(h, f"{ARN}:endpoint-config/c") == {"cost-center": "42"}
    assert tags(h, f"{ARN}:endpoint/ep") == {"env": "prod", "empty": ""}
    assert tags(h, f"{ARN}:endpoint/EP") == {"env": "prod", "empty": ""}  # the ARN's name is case-insensitive
    assert tags(h, f"{ARN}:model-package-group/g") == {"k": "v"}


def test_add_overwrites_and_delete_removes(h):
    added = h.call("AddTags", {"ResourceArn": MODEL_ARN, "Tags": [{"Key": "team", "Value": "data"},
                                                                  {"Key": "stage", "Value": "beta"}]})
    assert {t["Key"]: t["Value"] for t in added["Tags"]} == {"team": "data", "stage": "beta"}
    assert tags(h, MODEL_ARN) == {"team": "data", "stage": "beta"}
    assert h.call("DeleteTags", {"ResourceArn": MODEL_ARN, "TagKeys": ["team", "absent"]}) == {}
    assert tags(h, MODEL_ARN) == {"stage": "beta"}


def test_tags_go_with_the_resource(h):
    h.call("DeleteModel", {"ModelName": "MyModel"})
    assert f'Could not find model "{MODEL_ARN}".' == h.refused("ListTags", {"ResourceArn": MODEL_ARN})
    h.call("CreateModel", {"ModelName": "MyModel", "PrimaryContainer": {"Image": "i", "ModelDataUrl": "s3://b/m"}})
    assert tags(h, MODEL_ARN) == {}


def test_list_tags_pages(h):
    h.call("AddTags", {"ResourceArn": MODEL_ARN, "Tags": [{"Key": f"k{i:02d}", "Value": "v"} for i in range(49)]})
    first = h.call("ListTags", {"ResourceArn": MODEL_ARN, "MaxResults": 50})
    assert len(first["Tags"]) == 50 and "NextToken" not in first
    assert "Value '10' at 'maxResults'" in h.refused("ListTags", {"ResourceArn": MODEL_ARN, "MaxResults": 10})
    message = h.refused("AddTags", {"ResourceArn": MODEL_ARN, "Tags": [{"Key": "one-too-many", "Value": "v"}]})
    assert "would have 51 tags; a resource can have at most 50 tags" in message


@pytest.mark.parametrize("tags_, expected", [
    ([{"Key": "aws:owner", "Value": "x"}], "Tag keys starting with 'aws:' are reserved"),
    ([{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}], "repeated: ['a']"),
    ([{"Key": "bad#key", "Value": "1"}], "Value 'bad#key' at 'tags.1.member.key' failed to satisfy constraint: "
                                         "Member must satisfy regular expression pattern"),
    ([{"Key": "", "Value": "1"}], "Member must have length greater than or equal to 1"),
    ([{"Key": "k" * 129}], "Member must have length less than or equal to 128"),
    ([{"Key": "k", "Value": "v" * 257}], "Member must have length less than or equal to 256"),
])
def test_tag_rules(h, tags_, expected):
    assert expected in h.refused("AddTags", {"ResourceArn": MODEL_ARN, "Tags": tags_})
    # The same rules hold for the Tags of create calls, and nothing is created.
    assert expected in h.refused("CreateModel", {
        "ModelName": "other", "Tags": tags_, "PrimaryContainer": {"Image": "i", "ModelDataUrl": "s3://b/m"}})
    assert "other" not in h.names()[0]


def test_unicode_letters_and_allowed_symbols_are_accepted(h):
    h.call("AddTags", {"ResourceArn": MODEL_ARN, "Tags": [{"Key": "Équipe données_1 .:/=+-@", "Value": "日本"}]})
    assert tags(h, MODEL_ARN)["Équipe données_1 .:/=+-@"] == "日本"


@pytest.mark.parametrize("arn, expected", [
    (f"{ARN}:model/nope", f'Could not find model "{ARN}:model/nope".'),
    (f"{ARN}:endpoint/nope", f'Could not find endpoint "{ARN}:endpoint/nope".'),
    ("arn:aws:sagemaker:eu-west-1:123456789012:model/mymodel", "Could not find model"),
    ("arn:aws:sagemaker:us-east-1:999999999999:model/mymodel", "Could not find model"),
    (f"{ARN}:training-job/t", "Resource type 'training-job'"),
])
def test_unknown_resources(h, arn, expected):
    assert expected in h.refused("AddTags", {"ResourceArn": arn, "Tags": [{"Key": "k", "Value": "v"}]})


def test_arn_shape_is_validated(h):
    message = h.refused("ListTags", {"ResourceArn": "not-an-arn"})
    assert "Value 'not-an-arn' at 'resourceArn' failed to satisfy constraint: Member must satisfy regular expression" in message
