"""Where clients reach each node's gateway."""

from serverless_ray.gateway.fleet import gateway_url


def test_a_gateway_bound_to_one_address_is_reached_there():
    assert gateway_url("127.0.0.1", "10.0.0.7", 8080) == "http://127.0.0.1:8080"


def test_a_gateway_bound_to_every_address_is_reached_at_its_nodes_address():
    assert gateway_url("0.0.0.0", "10.0.0.7", 8080) == "http://10.0.0.7:8080"
    assert gateway_url("::", "fd00::7", 8080) == "http://[fd00::7]:8080"
