"""Which variant serves an invocation: TargetVariant, weights, and errors."""

from collections import Counter

import pytest

from serverless_ray.messages import Route, VariantRoute
from serverless_ray.errors import RuntimeValidationError
from serverless_ray.gateway.variants import choose_variant

SERVERLESS = Route("ep", "AllTraffic", "sr-ep-g1", max_concurrency=5)
INSTANCE = Route("ep", "blue", "sr-ep-g1-blue", 0, serverless=False, variants=(
    VariantRoute("blue", "sr-ep-g1-blue", 3.0),
    VariantRoute("green", "sr-ep-g1-green", 1.0),
    VariantRoute("dark", "sr-ep-g1-dark", 0.0),
))


def test_serverless_route_is_unchanged_with_or_without_its_variant_named():
    assert choose_variant(SERVERLESS, None) is SERVERLESS
    assert choose_variant(SERVERLESS, "AllTraffic") is SERVERLESS


def test_unknown_target_variant_is_a_validation_error():
    with pytest.raises(RuntimeValidationError, match=r"Variant other of endpoint ep not found; .*\['AllTraffic'\]"):
        choose_variant(SERVERLESS, "other")
    with pytest.raises(RuntimeValidationError, match="Variant Blue of endpoint ep not found"):
        choose_variant(INSTANCE, "Blue")  # variant names are matched exactly


@pytest.mark.parametrize("target", ["blue", "green", "dark"])
def test_target_variant_picks_that_variant_even_at_weight_zero(target):
    chosen = choose_variant(INSTANCE, target)
    assert (chosen.variant_name, chosen.app_name) == (target, f"sr-ep-g1-{target}")
    assert chosen.serverless is False


@pytest.mark.parametrize("point, expected", [(0.0, "blue"), (0.74, "blue"), (0.75, "green"), (0.999, "green"),
                                             (1.0, "green")])
def test_weights_split_the_unit_interval(point, expected):
    assert choose_variant(INSTANCE, None, pick=lambda: point).variant_name == expected


def test_weighted_choice_follows_the_weights():
    import random

    rng = random.Random(7)
    counts = Counter(choose_variant(INSTANCE, None, pick=rng.random).variant_name for _ in range(4000))
    assert counts["dark"] == 0
    assert 0.70 < counts["blue"] / 4000 < 0.80


def test_no_positive_weight_needs_a_target():
    route = Route("ep", "a", "x", 0, serverless=False, variants=(VariantRoute("a", "x", 0.0),))
    with pytest.raises(RuntimeValidationError, match="name one with X-Amzn-SageMaker-Target-Variant"):
        choose_variant(route, None)
