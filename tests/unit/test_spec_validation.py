"""Request validation: every rule of the spec models and the AWS-style error wording."""

import pytest

from serverless_ray.errors import ValidationException
from serverless_ray.spec import (
    CreateEndpointConfigInput,
    CreateEndpointInput,
    CreateModelInput,
    EndpointNameInput,
    ListEndpointsInput,
    ListInput,
    parse,
)
from serverless_ray.spec.validation import format_errors, member_path

ALLOWED_MEMORY = "[1024, 2048, 3072, 4096, 5120, 6144]"
SERVERLESS_PATH = "productionVariants.1.member.serverlessConfig"


def rejected(model, payload) -> str:
    """Parse ``payload`` expecting a ValidationException; return its message."""
    with pytest.raises(ValidationException) as info:
        parse(model, payload)
    message = info.value.message
    assert str(info.value) == message
    return message


def serverless_variant(name="AllTraffic", model="my-model", **serverless):
    config = {"MemorySizeInMB": 2048, "MaxConcurrency": 5, **serverless}
    return {"VariantName": name, "ModelName": model, "ServerlessConfig": config}


def endpoint_config(*variants, name="my-config"):
    return {"EndpointConfigName": name, "ProductionVariants": list(variants) or [serverless_variant()]}


def model(name="my-model", **container):
    return {"ModelName": name, "PrimaryContainer": {"Image": "python:3.11", **container}}


# --- member paths and error sentences -----------------------------------------------


@pytest.mark.parametrize(
    "loc, expected",
    [
        ((), ""),
        (("ModelName",), "modelName"),
        (("ProductionVariants", 0, "ServerlessConfig", "MaxConcurrency"),
         "productionVariants.1.member.serverlessConfig.maxConcurrency"),
        (("Containers", 2, "ModelDataUrl"), "containers.3.member.modelDataUrl"),
    ],
)
def test_member_path_is_lower_camel_with_one_based_members(loc, expected):
    assert member_path(loc) == expected


def test_format_errors_counts_and_joins_sentences():
    errors = [
        {"loc": ("MaxResults",), "type": "less_than_equal", "input": 500, "ctx": {"le": 100}},
        {"loc": ("EndpointName",), "type": "missing", "input": {}},
    ]
    assert format_errors(errors) == (
        "2 validation errors detected: "
        "Value '500' at 'maxResults' failed to satisfy constraint: "
        "Member must have value less than or equal to 100; "
        "Value null at 'endpointName' failed to satisfy constraint: Member must not be null"
    )


def test_format_errors_single_error_is_singular():
    errors = [{"loc": ("SortBy",), "type": "literal_error", "input": "Size",
               "ctx": {"expected": "'Name' or 'CreationTime'"}}]
    assert format_errors(errors) == (
        "1 validation error detected: Value 'Size' at 'sortBy' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Name, CreationTime]"
    )


def test_custom_validator_message_keeps_its_sentence_and_gains_the_path():
    errors = [{"loc": ("ProductionVariants", 0), "type": "value_error",
               "msg": "Value error, something is off"}]
    assert format_errors(errors) == (
        "1 validation error detected: something is off (at 'productionVariants.1.member')"
    )


@pytest.mark.parametrize("payload", [[], "text", None, 42, [{"EndpointName": "e"}]])
def test_non_object_payload_is_rejected(payload):
    assert rejected(EndpointNameInput, payload) == "The request body must be a JSON object."


def test_missing_required_members_are_each_reported():
    message = rejected(CreateEndpointInput, {})
    assert message.startswith("2 validation errors detected: ")
    assert "Value null at 'endpointName' failed to satisfy constraint: Member must not be null" in message
    assert "Value null at 'endpointConfigName' failed to satisfy constraint: Member must not be null" in message


def test_unknown_members_are_ignored():
    parsed = parse(EndpointNameInput, {"EndpointName": "e", "SomethingNew": 1})
    assert parsed.EndpointName == "e"


# --- names ----------------------------------------------------------------------------

VALID_NAMES = ["a", "A1", "my-endpoint", "a--b", "x" * 63, "0-9"]
INVALID_NAMES = ["-lead", "trail-", "under_score", "dot.ted", "sp ace", ""]


@pytest.mark.parametrize("name", VALID_NAMES)
@pytest.mark.parametrize(
    "model_cls, field",
    [(CreateModelInput, "ModelName"), (EndpointNameInput, "EndpointName"),
     (CreateEndpointConfigInput, "EndpointConfigName")],
)
def test_valid_names_are_accepted(model_cls, field, name):
    payloads = {
        CreateModelInput: model(name=name),
        EndpointNameInput: {"EndpointName": name},
        CreateEndpointConfigInput: endpoint_config(name=name),
    }
    assert getattr(parse(model_cls, payloads[model_cls]), field) == name


@pytest.mark.parametrize("name", INVALID_NAMES)
@pytest.mark.parametrize(
    "model_cls, path",
    [(CreateModelInput, "modelName"), (EndpointNameInput, "endpointName"),
     (CreateEndpointConfigInput, "endpointConfigName")],
)
def test_invalid_name_patterns_are_rejected(model_cls, path, name):
    payloads = {
        CreateModelInput: model(name=name),
        EndpointNameInput: {"EndpointName": name},
        CreateEndpointConfigInput: endpoint_config(name=name),
    }
    message = rejected(model_cls, payloads[model_cls])
    assert f"Value '{name}' at '{path}' failed to satisfy constraint: " in message
    assert "Member must satisfy regular expression pattern: ^[a-zA-Z0-9]" in message


@pytest.mark.parametrize(
    "model_cls, payload, path",
    [
        (CreateModelInput, model(name="m" * 64), "modelName"),
        (EndpointNameInput, {"EndpointName": "e" * 64}, "endpointName"),
        (CreateEndpointConfigInput, endpoint_config(name="c" * 64), "endpointConfigName"),
    ],
)
def test_names_longer_than_63_are_rejected(model_cls, payload, path):
    message = rejected(model_cls, payload)
    assert f"at '{path}' failed to satisfy constraint: Member must have length less than or equal to 63" in message


def test_variant_name_pattern_is_checked():
    message = rejected(CreateEndpointConfigInput, endpoint_config(serverless_variant(name="All_Traffic")))
    assert "Value 'All_Traffic' at 'productionVariants.1.member.variantName'" in message


# --- serverless config ----------------------------------------------------------------


@pytest.mark.parametrize("memory", [1024, 2048, 3072, 4096, 5120, 6144])
def test_every_memory_tier_is_accepted(memory):
    parsed = parse(CreateEndpointConfigInput, endpoint_config(serverless_variant(MemorySizeInMB=memory)))
    assert parsed.ProductionVariants[0].ServerlessConfig.MemorySizeInMB == memory


@pytest.mark.parametrize("memory", [512, 1500, 7168, 0, 1023, 12288])
def test_memory_outside_the_tiers_is_rejected_with_the_allowed_set(memory):
    message = rejected(CreateEndpointConfigInput, endpoint_config(serverless_variant(MemorySizeInMB=memory)))
    assert message == (
        f"1 validation error detected: Value '{memory}' at '{SERVERLESS_PATH}.memorySizeInMB' "
        f"failed to satisfy constraint: Member must satisfy enum value set: {ALLOWED_MEMORY}"
    )


def test_fractional_memory_is_not_an_integer():
    message = rejected(CreateEndpointConfigInput, endpoint_config(serverless_variant(MemorySizeInMB=2048.5)))
    assert f"Value '2048.5' at '{SERVERLESS_PATH}.memorySizeInMB'" in message
    assert "Member must be an integer" in message


@pytest.mark.parametrize("value", [1, 100, 200])
def test_max_concurrency_in_range_is_accepted(value):
    parsed = parse(CreateEndpointConfigInput, endpoint_config(serverless_variant(MaxConcurrency=value)))
    assert parsed.ProductionVariants[0].ServerlessConfig.MaxConcurrency == value


@pytest.mark.parametrize(
    "value, constraint",
    [
        (0, "Member must have value greater than or equal to 1"),
        (-3, "Member must have value greater than or equal to 1"),
        (201, "Member must have value less than or equal to 200"),
        (500, "Member must have value less than or equal to 200"),
    ],
)
def test_max_concurrency_out_of_range(value, constraint):
    message = rejected(CreateEndpointConfigInput, endpoint_config(serverless_variant(MaxConcurrency=value)))
    assert message == (
        f"1 validation error detected: Value '{value}' at '{SERVERLESS_PATH}.maxConcurrency' "
        f"failed to satisfy constraint: {constraint}"
    )


def test_max_concurrency_is_required():
    variant = {"VariantName": "v", "ModelName": "m", "ServerlessConfig": {"MemorySizeInMB": 1024}}
    message = rejected(CreateEndpointConfigInput, endpoint_config(variant))
    assert f"Value null at '{SERVERLESS_PATH}.maxConcurrency' failed to satisfy constraint: Member must not be null" in message


@pytest.mark.parametrize("provisioned, maximum", [(1, 1), (5, 5), (1, 200), (200, 200)])
def test_provisioned_concurrency_up_to_max_is_accepted(provisioned, maximum):
    parsed = parse(
        CreateEndpointConfigInput,
        endpoint_config(serverless_variant(MaxConcurrency=maximum, ProvisionedConcurrency=provisioned)),
    )
    assert parsed.ProductionVariants[0].ServerlessConfig.ProvisionedConcurrency == provisioned


@pytest.mark.parametrize(
    "value, constraint",
    [
        (0, "Member must have value greater than or equal to 1"),
        (201, "Member must have value less than or equal to 200"),
    ],
)
def test_provisioned_concurrency_out_of_range(value, constraint):
    variant = serverless_variant(MaxConcurrency=200, ProvisionedConcurrency=value)
    message = rejected(CreateEndpointConfigInput, endpoint_config(variant))
    assert f"Value '{value}' at '{SERVERLESS_PATH}.provisionedConcurrency' failed to satisfy constraint: {constraint}" in message


def test_provisioned_concurrency_above_max_concurrency_is_rejected():
    variant = serverless_variant(MaxConcurrency=5, ProvisionedConcurrency=6)
    message = rejected(CreateEndpointConfigInput, endpoint_config(variant))
    assert message == (
        "1 validation error detected: ProvisionedConcurrency '6' must be less than or equal to "
        f"MaxConcurrency (5) (at '{SERVERLESS_PATH}')"
    )


# --- production variants --------------------------------------------------------------


def test_serverless_config_must_have_exactly_one_variant():
    config = endpoint_config(serverless_variant(name="a"), serverless_variant(name="b"))
    message = rejected(CreateEndpointConfigInput, config)
    assert "Serverless endpoint configs must have exactly one production variant; received 2." in message


def test_serverless_variant_mixed_with_instance_variant_is_rejected():
    instance = {"VariantName": "b", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    message = rejected(CreateEndpointConfigInput, endpoint_config(serverless_variant(name="a"), instance))
    assert "exactly one production variant; received 2." in message


def test_no_variants_is_rejected():
    message = rejected(CreateEndpointConfigInput, {"EndpointConfigName": "c", "ProductionVariants": []})
    assert message == (
        "1 validation error detected: Value '[]' at 'productionVariants' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    )


def test_variant_needs_serverless_config_or_instance_type():
    variant = {"VariantName": "AllTraffic", "ModelName": "m"}
    message = rejected(CreateEndpointConfigInput, endpoint_config(variant))
    assert "Invalid Keys for ProductionVariant 'AllTraffic'" in message
    assert "['InstanceType', 'ServerlessConfig']" in message
    assert message.endswith("(at 'productionVariants.1.member')")


@pytest.mark.parametrize("extra", [{"InstanceType": "ml.m5.large"}, {"InitialInstanceCount": 1}])
def test_variant_cannot_be_serverless_and_instance_based(extra):
    variant = {**serverless_variant(name="v"), **extra}
    message = rejected(CreateEndpointConfigInput, endpoint_config(variant))
    assert "ProductionVariant 'v' sets ServerlessConfig together with InstanceType/InitialInstanceCount" in message


def test_variant_must_name_a_model():
    variant = serverless_variant(name="v")
    del variant["ModelName"]
    message = rejected(CreateEndpointConfigInput, endpoint_config(variant))
    assert "ProductionVariant 'v' must name a ModelName." in message


def test_instance_based_config_parses():
    variant = {"VariantName": "v", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 2}
    parsed = parse(CreateEndpointConfigInput, endpoint_config(variant))
    assert not parsed.is_serverless
    assert (parsed.ProductionVariants[0].InstanceType, parsed.ProductionVariants[0].InitialInstanceCount) == (
        "ml.m5.large", 2)


def test_duplicate_variant_names_are_rejected_case_insensitively():
    instance = {"VariantName": "allTRAFFIC", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    message = rejected(CreateEndpointConfigInput, endpoint_config(serverless_variant(name="AllTraffic"), instance))
    assert "repeated: ['alltraffic']" in message


def test_valid_serverless_config_parses():
    parsed = parse(
        CreateEndpointConfigInput,
        endpoint_config(serverless_variant(MemorySizeInMB=3072, MaxConcurrency=20, ProvisionedConcurrency=2)),
    )
    variant = parsed.ProductionVariants[0]
    assert parsed.is_serverless and variant.is_serverless
    assert (variant.VariantName, variant.ModelName) == ("AllTraffic", "my-model")
    sc = variant.ServerlessConfig
    assert (sc.MemorySizeInMB, sc.MaxConcurrency, sc.ProvisionedConcurrency) == (3072, 20, 2)


# --- models ---------------------------------------------------------------------------


def test_primary_container_alone_is_the_only_container():
    parsed = parse(CreateModelInput, model(ModelDataUrl="s3://bucket/model.tar.gz"))
    assert [c.ModelDataUrl for c in parsed.containers] == ["s3://bucket/model.tar.gz"]


def test_containers_list_alone_is_accepted():
    parsed = parse(CreateModelInput, {"ModelName": "m", "Containers": [{"Image": "a"}, {"Image": "b"}]})
    assert [c.Image for c in parsed.containers] == ["a", "b"]


def test_model_needs_a_container():
    message = rejected(CreateModelInput, {"ModelName": "m"})
    assert "Either PrimaryContainer or Containers must be specified for model 'm'." in message


def test_model_cannot_have_both_container_sources():
    payload = {**model(name="m"), "Containers": [{"Image": "x"}]}
    message = rejected(CreateModelInput, payload)
    assert "Specify either PrimaryContainer or Containers for model 'm', not both." in message


def test_empty_containers_list_is_rejected():
    message = rejected(CreateModelInput, {"ModelName": "m", "Containers": []})
    assert "Value '[]' at 'containers' failed to satisfy constraint: Member must have length greater than or equal to 1" in message


@pytest.mark.parametrize(
    "url",
    [
        "s3://bucket/path/model.tar.gz",
        "s3://bucket",
        "https://example.com/model.tar.gz",
        "file:///srv/models/model.tar.gz",
        "/srv/models/unpacked",
    ],
)
def test_model_data_url_accepted_forms(url):
    assert parse(CreateModelInput, model(ModelDataUrl=url)).PrimaryContainer.ModelDataUrl == url


@pytest.mark.parametrize(
    "url",
    ["ftp://host/model.tar.gz", "models/model.tar.gz", "./model.tar.gz", "http://host/model.tar.gz",
     "s3://", "file://"],
)
def test_model_data_url_rejected_forms(url):
    message = rejected(CreateModelInput, model(ModelDataUrl=url))
    assert f"Value '{url}' at 'primaryContainer.modelDataUrl' failed to satisfy constraint: " in message
    assert "Member must satisfy regular expression pattern" in message


def test_model_data_url_path_names_the_container_member():
    payload = {"ModelName": "m", "Containers": [{"Image": "a"}, {"Image": "b", "ModelDataUrl": "rel/path"}]}
    message = rejected(CreateModelInput, payload)
    assert "Value 'rel/path' at 'containers.2.member.modelDataUrl'" in message


@pytest.mark.parametrize("key", ["A", "_private", "MODEL_SERVER_WORKERS", "x1_y2"])
def test_environment_keys_matching_the_pattern_are_accepted(key):
    parsed = parse(CreateModelInput, model(Environment={key: "v"}))
    assert parsed.PrimaryContainer.Environment == {key: "v"}


@pytest.mark.parametrize("key", ["bad-key", "1LEADING_DIGIT", "has space", "dot.ted", ""])
def test_environment_keys_not_matching_the_pattern_are_rejected(key):
    message = rejected(CreateModelInput, model(Environment={"GOOD": "1", key: "2"}))
    assert message.startswith("1 validation error detected: ")
    assert f"Value '{key}' at 'primaryContainer.environment" in message
    assert "Member must satisfy regular expression pattern: ^[a-zA-Z_][a-zA-Z0-9_]*$" in message


def test_environment_key_error_path_does_not_alter_the_key():
    message = rejected(CreateModelInput, model(Environment={"Bad-Key": "1"}))
    assert "Value 'Bad-Key' at 'primaryContainer.environment" in message
    assert "bad-Key" not in message
    assert "at 'primaryContainer.environment'" in message


def test_environment_value_longer_than_1024_is_rejected():
    message = rejected(CreateModelInput, model(Environment={"K": "v" * 1025}))
    assert "Member must have length less than or equal to 1024" in message
    assert "primaryContainer.environment" in message


# --- list requests --------------------------------------------------------------------


def test_list_defaults():
    parsed = parse(ListEndpointsInput, {})
    assert (parsed.SortBy, parsed.SortOrder, parsed.MaxResults) == ("CreationTime", "Descending", 10)
    assert parsed.NextToken is None and parsed.StatusEquals is None


@pytest.mark.parametrize("sort_by", ["Name", "CreationTime", "Status"])
def test_list_endpoints_sort_by_values(sort_by):
    assert parse(ListEndpointsInput, {"SortBy": sort_by}).SortBy == sort_by


def test_list_endpoints_sort_by_rejects_unknown_key():
    message = rejected(ListEndpointsInput, {"SortBy": "Size"})
    assert message == (
        "1 validation error detected: Value 'Size' at 'sortBy' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Name, CreationTime, Status]"
    )


def test_list_models_cannot_sort_by_status():
    message = rejected(ListInput, {"SortBy": "Status"})
    assert "Value 'Status' at 'sortBy'" in message
    assert "Member must satisfy enum value set: [Name, CreationTime]" in message


def test_sort_order_enum():
    message = rejected(ListEndpointsInput, {"SortOrder": "Up"})
    assert "Value 'Up' at 'sortOrder'" in message
    assert "Member must satisfy enum value set: [Ascending, Descending]" in message


def test_status_equals_enum():
    message = rejected(ListEndpointsInput, {"StatusEquals": "Running"})
    assert "Value 'Running' at 'statusEquals'" in message
    assert (
        "[OutOfService, Creating, Updating, SystemUpdating, RollingBack, InService, Deleting, "
        "Failed, UpdateRollbackFailed]"
    ) in message


@pytest.mark.parametrize("value", [1, 50, 100])
def test_max_results_in_range(value):
    assert parse(ListInput, {"MaxResults": value}).MaxResults == value


@pytest.mark.parametrize(
    "value, constraint",
    [
        (0, "Member must have value greater than or equal to 1"),
        (101, "Member must have value less than or equal to 100"),
    ],
)
def test_max_results_out_of_range(value, constraint):
    message = rejected(ListEndpointsInput, {"MaxResults": value})
    assert message == (
        f"1 validation error detected: Value '{value}' at 'maxResults' failed to satisfy constraint: {constraint}"
    )


def test_name_contains_pattern():
    message = rejected(ListInput, {"NameContains": "a_b"})
    assert "Value 'a_b' at 'nameContains'" in message


def test_timestamps_accept_epoch_seconds_and_reject_garbage():
    assert parse(ListInput, {"CreationTimeAfter": 1_700_000_000}).CreationTimeAfter.timestamp() == 1_700_000_000
    message = rejected(ListInput, {"CreationTimeAfter": "yesterday"})
    assert "Value 'yesterday' at 'creationTimeAfter' failed to satisfy constraint: Member must be a timestamp" in message
