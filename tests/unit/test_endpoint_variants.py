"""Instance-based endpoints in the control plane: variants, conversions,
UpdateEndpointWeightsAndCapacities, RetainAllVariantProperties and DescribeEndpoint."""

import pytest

from plane_harness import ARN, Harness, instance_variant
from serverless_ray.control.rollout import route_for


@pytest.fixture
def h(tmp_path):
    harness = Harness(tmp_path)
    harness.model("m")
    harness.model("m2")
    return harness


def two_variants(h, name="c2", counts=(1, 2), weights=(3.0, 1.0)):
    return h.instance_config(
        name,
        instance_variant("m", "blue", "ml.t2.medium", counts[0], weights[0]),
        instance_variant("m2", "green", "ml.c5.large", counts[1], weights[1]),
    )


def test_instance_endpoint_has_one_app_per_variant_and_a_weighted_route(h):
    h.endpoint("e", two_variants(h))
    h.finish("e")
    record = h.store.endpoints.get("e")
    assert record.current.apps() == ["sr-e-g1-blue", "sr-e-g1-green"]
    route = route_for(record)
    assert route.serverless is False
    assert [(v.variant_name, v.app_name, v.weight) for v in route.variants] == [
        ("blue", "sr-e-g1-blue", 3.0), ("green", "sr-e-g1-green", 1.0)]
    assert route.targets() == [("blue", "sr-e-g1-blue"), ("green", "sr-e-g1-green")]


def test_serverless_route_keeps_a_single_app(h):
    h.endpoint("s", h.serverless_config("c", "m"))
    h.finish("s")
    route = route_for(h.store.endpoints.get("s"))
    assert (route.serverless, route.app_name, route.variants, route.max_concurrency) == (True, "sr-s-g1", (), 5)


def test_describe_shows_instance_counts_and_weights(h):
    h.endpoint("e", two_variants(h))
    creating = h.call("DescribeEndpoint", {"EndpointName": "e"})
    pending = creating["PendingDeploymentSummary"]["ProductionVariants"]
    assert [(v["VariantName"], v["InstanceType"], v["DesiredInstanceCount"]) for v in pending] == [
        ("blue", "ml.t2.medium", 1), ("green", "ml.c5.large", 2)]
    h.finish("e")
    described = h.call("DescribeEndpoint", {"EndpointName": "e"})
    blue, green = described["ProductionVariants"]
    assert blue["CurrentInstanceCount"] == blue["DesiredInstanceCount"] == 1
    assert green["CurrentWeight"] == 1.0 and blue["CurrentWeight"] == 3.0
    assert green["InstancePools"] == [{"InstanceType": "ml.c5.large", "CurrentInstanceCount": 2}]
    assert "CurrentServerlessConfig" not in blue


def test_weights_default_to_one(h):
    h.endpoint("e", h.instance_config("c", instance_variant("m", "a"), instance_variant("m2", "b")))
    h.finish("e")
    assert [v.weight for v in route_for(h.store.endpoints.get("e")).variants] == [1.0, 1.0]


def test_all_zero_weights_are_refused(h):
    message = h.refused("CreateEndpointConfig", {"EndpointConfigName": "z", "ProductionVariants": [
        instance_variant("m", "a", weight=0), instance_variant("m2", "b", weight=0)]})
    assert "must be greater than 0" in message


@pytest.mark.parametrize("payload, expected", [
    ({"VariantName": "a", "ModelName": "m", "InstanceType": "ml.m5.large"}, "no InitialInstanceCount"),
    ({"VariantName": "a", "ModelName": "m", "InstanceType": "ml.x9.huge", "InitialInstanceCount": 1},
     "Value 'ml.x9.huge' at 'productionVariants.1.member.instanceType' failed to satisfy constraint: "
     "Member must satisfy enum value set: [ml.m4.xlarge"),
    ({"VariantName": "a", "ModelName": "m", "InstanceType": "ml.inf2.xlarge", "InitialInstanceCount": 1},
     "AWS Inferentia, Trainium or Gaudi accelerators"),
    ({"VariantName": "a", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 0},
     "Value '0' at 'productionVariants.1.member.initialInstanceCount'"),
    ({"VariantName": "a", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1,
      "AcceleratorType": "ml.eia2.medium"}, "AcceleratorType is not supported by this platform"),
])
def test_instance_variant_rules(h, payload, expected):
    assert expected in h.refused("CreateEndpointConfig", {"EndpointConfigName": "c", "ProductionVariants": [payload]})


# --- conversions ----------------------------------------------------------------------


def test_serverless_to_instance_based_is_allowed_and_one_way(h):
    h.endpoint("e", h.serverless_config("sc", "m"))
    h.finish("e")
    h.call("UpdateEndpoint", {"EndpointName": "e", "EndpointConfigName": two_variants(h)})
    record = h.store.endpoints.get("e")
    assert record.status == "Updating" and record.pending.apps() == ["sr-e-g2-blue", "sr-e-g2-green"]
    h.finish("e")
    message = h.refused("UpdateEndpoint", {"EndpointName": "e", "EndpointConfigName": "sc"})
    assert f'Endpoint "{ARN}:endpoint/e" is instance-based' in message
    assert "to a serverless endpoint configuration ('sc') is currently not supported" in message
    assert h.store.endpoints.get("e").status == "InService"


def test_instance_update_that_changes_only_counts_stays_in_place(h):
    h.endpoint("e", two_variants(h))
    h.finish("e")
    h.call("UpdateEndpoint", {"EndpointName": "e", "EndpointConfigName": two_variants(h, "c3", counts=(2, 2))})
    assert h.store.endpoints.get("e").pending.app_name == "sr-e-g1"
    h.finish("e")
    h.call("UpdateEndpoint", {"EndpointName": "e", "EndpointConfigName": h.instance_config(
        "c4", instance_variant("m", "blue", "ml.m5.large"), instance_variant("m2", "green", "ml.c5.large"))})
    assert h.store.endpoints.get("e").pending.app_name == "sr-e-g3"  # new instance type: new generation


def test_retain_all_variant_properties(h):
    h.endpoint("e", two_variants(h))
    h.finish("e")
    h.call("UpdateEndpointWeightsAndCapacities", {"EndpointName": "e", "DesiredWeightsAndCapacities": [
        {"VariantName": "green", "DesiredWeight": 5, "DesiredInstanceCount": 3}]})
    h.finish("e")
    fresh = two_variants(h, "c5", counts=(1, 1), weights=(1.0, 1.0))
    h.call("UpdateEndpoint", {"EndpointName": "e", "EndpointConfigName": fresh, "RetainAllVariantProperties": True,
                              "ExcludeRetainedVariantProperties": [{"VariantPropertyType": "DesiredWeight"}]})
    green = h.store.endpoints.get("e").pending.find("green")
    assert (green.InitialInstanceCount, green.weight) == (3, 1.0)  # count retained, weight from the config
    h.finish("e")
    h.call("UpdateEndpoint", {"EndpointName": "e", "EndpointConfigName": fresh})
    green = h.store.endpoints.get("e").pending.find("green")
    assert (green.InitialInstanceCount, green.weight) == (1, 1.0)  # without retaining: the config's


# --- UpdateEndpointWeightsAndCapacities ----------------------------------------------


def test_weights_and_counts_change_in_place(h):
    h.endpoint("e", two_variants(h))
    h.finish("e")
    h.call("UpdateEndpointWeightsAndCapacities", {"EndpointName": "e", "DesiredWeightsAndCapacities": [
        {"VariantName": "blue", "DesiredWeight": 0}, {"VariantName": "green", "DesiredInstanceCount": 4}]})
    record = h.store.endpoints.get("e")
    assert record.status == "Updating" and record.pending.app_name == record.current.app_name
    assert record.pending.config_name == record.current.config_name
    described = h.call("DescribeEndpoint", {"EndpointName": "e"})
    blue, green = described["ProductionVariants"]
    assert (blue["CurrentWeight"], blue["DesiredWeight"]) == (3.0, 0.0)
    assert (green["CurrentInstanceCount"], green["DesiredInstanceCount"]) == (2, 4)
    h.finish("e")
    assert [v.weight for v in route_for(h.store.endpoints.get("e")).variants] == [0.0, 1.0]
    # The endpoint config itself is unchanged.
    config = h.call("DescribeEndpointConfig", {"EndpointConfigName": "c2"})
    assert [v["InitialInstanceCount"] for v in config["ProductionVariants"]] == [1, 2]


def test_serverless_update_config(h):
    h.endpoint("s", h.serverless_config("c", "m"))
    h.finish("s")
    h.call("UpdateEndpointWeightsAndCapacities", {"EndpointName": "s", "DesiredWeightsAndCapacities": [
        {"VariantName": "AllTraffic", "ServerlessUpdateConfig": {"MaxConcurrency": 9, "ProvisionedConcurrency": 2}}]})
    described = h.call("DescribeEndpoint", {"EndpointName": "s"})
    variant = described["ProductionVariants"][0]
    assert variant["CurrentServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    assert variant["DesiredServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 9, "ProvisionedConcurrency": 2}
    h.finish("s")
    route = route_for(h.store.endpoints.get("s"))
    assert (route.max_concurrency, route.provisioned_concurrency, route.app_name) == (9, 2, "sr-s-g1")


@pytest.mark.parametrize("desired, expected", [
    ([{"VariantName": "nope", "DesiredWeight": 1}], "The variant(s) ['nope'] are not present in endpoint"),
    ([{"VariantName": "AllTraffic", "DesiredInstanceCount": 2}], "DesiredInstanceCount applies to instance-based"),
    ([{"VariantName": "AllTraffic", "ServerlessUpdateConfig": {"ProvisionedConcurrency": 6}}],
     "ProvisionedConcurrency '6' of variant 'AllTraffic' must be less than or equal to MaxConcurrency (5)"),
    ([{"VariantName": "AllTraffic", "ServerlessUpdateConfig": {"MaxConcurrency": 201}}],
     "Value '201' at 'desiredWeightsAndCapacities.1.member.serverlessUpdateConfig.maxConcurrency'"),
    ([{"VariantName": "AllTraffic"}], "changes nothing"),
    ([], "Value '[]' at 'desiredWeightsAndCapacities'"),
    ([{"VariantName": "AllTraffic", "DesiredWeight": 0}], "at least one variant must receive traffic"),
])
def test_weights_and_capacities_rules_for_serverless(h, desired, expected):
    h.endpoint("s", h.serverless_config("c", "m"))
    h.finish("s")
    message = h.refused("UpdateEndpointWeightsAndCapacities",
                        {"EndpointName": "s", "DesiredWeightsAndCapacities": desired})
    assert expected in message
    assert h.store.endpoints.get("s").status == "InService"


@pytest.mark.parametrize("desired, expected", [
    ([{"VariantName": "blue", "ServerlessUpdateConfig": {"MaxConcurrency": 2}}], "ServerlessUpdateConfig applies to serverless"),
    ([{"VariantName": "blue", "DesiredInstanceCount": 0}], "must be at least 1"),
    ([{"VariantName": "blue", "DesiredWeight": 1}, {"VariantName": "blue", "DesiredWeight": 2}], "repeated: ['blue']"),
])
def test_weights_and_capacities_rules_for_instance_variants(h, desired, expected):
    h.endpoint("e", two_variants(h))
    h.finish("e")
    assert expected in h.refused("UpdateEndpointWeightsAndCapacities",
                                 {"EndpointName": "e", "DesiredWeightsAndCapacities": desired})


def test_weights_and_capacities_need_an_in_service_endpoint(h):
    h.endpoint("e", two_variants(h))
    message = h.refused("UpdateEndpointWeightsAndCapacities", {
        "EndpointName": "e", "DesiredWeightsAndCapacities": [{"VariantName": "blue", "DesiredWeight": 1}]})
    assert f'Cannot update in-progress endpoint "{ARN}:endpoint/e".' == message
    assert "Could not find endpoint" in h.refused("UpdateEndpointWeightsAndCapacities", {
        "EndpointName": "nope", "DesiredWeightsAndCapacities": [{"VariantName": "blue", "DesiredWeight": 1}]})
