"""FloorWatch: variants below their provisioned floor, and how DescribeEndpoint says so."""

from serverless_ray.autoscaling.floor import FloorWatch

KEY = ("Endpoint-A", "AllTraffic")


def test_a_met_floor_is_no_shortfall():
    watch = FloorWatch()
    watch.observe({KEY: (3, 3), ("b", "AllTraffic"): (0, 0)}, now=10.0)
    assert watch.shortfall("endpoint-a", "AllTraffic") is None
    assert watch.missing(KEY) == 0


def test_a_shortfall_keeps_the_time_it_started_until_the_floor_is_met():
    watch = FloorWatch()
    watch.observe({KEY: (3, 2)}, now=10.0, reasons={KEY: "1 replica is waiting for resources"})
    watch.observe({KEY: (3, 1)}, now=12.0)
    short = watch.shortfall("ENDPOINT-A", "AllTraffic")
    assert (short.floor, short.running, short.missing, short.since) == (3, 1, 2, 10.0)
    assert short.message().startswith("1 of 3 provisioned replicas are running")
    watch.observe({KEY: (3, 3)}, now=20.0)
    assert watch.shortfall("endpoint-a", "AllTraffic") is None
    watch.observe({KEY: (3, 2)}, now=30.0)
    assert watch.shortfall("endpoint-a", "AllTraffic").since == 30.0  # a new shortfall


def test_serves_reason_is_part_of_the_message():
    watch = FloorWatch()
    watch.observe({KEY: (2, 0)}, now=1.0, reasons={KEY: "Resources required for each replica: {'CPU': 0.5}"})
    assert watch.shortfall("endpoint-a", "AllTraffic").message().endswith("{'CPU': 0.5}")


def test_a_variant_that_is_gone_is_forgotten():
    watch = FloorWatch()
    watch.observe({KEY: (2, 0)}, now=1.0)
    watch.observe({}, now=2.0)
    assert watch.missing(KEY) == 0


def test_describe_endpoint_shows_a_variant_below_its_floor(tmp_path):
    from plane_harness import Harness

    harness = Harness(tmp_path)
    harness.model("m")
    harness.call("CreateEndpointConfig", {"EndpointConfigName": "c", "ProductionVariants": [{
        "VariantName": "AllTraffic", "ModelName": "m",
        "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 4, "ProvisionedConcurrency": 3}}]})
    harness.endpoint("ep", "c")
    harness.finish("ep")
    assert "VariantStatus" not in harness.call("DescribeEndpoint", {"EndpointName": "ep"})["ProductionVariants"][0]

    harness.floors.observe({("ep", "AllTraffic"): (3, 2)}, now=1700000000.0)
    variant = harness.call("DescribeEndpoint", {"EndpointName": "ep"})["ProductionVariants"][0]
    assert variant["VariantStatus"] == [{
        "Status": "Updating", "StartTime": 1700000000.0,
        "StatusMessage": "2 of 3 provisioned replicas are running; the platform is starting the other 1 and "
                         "they start as soon as the cluster has room for them.",
    }]
    harness.floors.observe({("ep", "AllTraffic"): (3, 3)}, now=1700000010.0)
    assert "VariantStatus" not in harness.call("DescribeEndpoint", {"EndpointName": "ep"})["ProductionVariants"][0]
