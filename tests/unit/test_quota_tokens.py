"""A gateway's token bookkeeping (pure, no asyncio)."""

from __future__ import annotations

from serverless_ray.quota.ledger import POOL
from serverless_ray.quota.tokens import GatewayTokens


def _holding(grants: dict[str, int], limits: dict[str, int]) -> GatewayTokens:
    tokens = GatewayTokens()
    tokens.add(grants, counted=True)
    for endpoint, limit in limits.items():
        tokens[endpoint].limit = limit
    return tokens


def test_an_admission_needs_a_token_of_its_endpoint_and_of_the_pool():
    tokens = _holding({"a": 2, "b": 1, POOL: 2}, {"a": 5, "b": 5})
    assert tokens.take("a") and tokens.take("b")
    assert not tokens.take("a")  # "a" has a free token, the pool has none
    tokens.put("b")
    assert tokens.take("a")


def test_wants_cover_waiting_admissions_beyond_free_tokens():
    tokens = _holding({"a": 1, POOL: 3}, {"a": 5, "b": 5})
    tokens.take("a")
    tokens.wait("a", 2)
    tokens.wait("b", 1)
    assert tokens.wants() == ({"a": 2, "b": 1, POOL: 1}, {"a": 5, "b": 5})


def test_sweep_keeps_what_was_used_at_once_since_the_last_sweep():
    tokens = _holding({"a": 4, POOL: 4}, {"a": 5})
    for _ in range(3):
        tokens.take("a")
    for _ in range(3):
        tokens.put("a")
    tokens.sweep()  # three were used at once: one goes
    assert tokens.returns() == {"a": 1, POOL: 1}
    tokens.sweep()  # none used since
    assert tokens.returns() == {"a": 3, POOL: 3}
    assert not tokens.holding()


def test_under_pressure_tokens_unused_since_the_last_sweep_go_back_but_not_those_a_waiter_needs():
    tokens = _holding({"a": 4, POOL: 4}, {"a": 5})
    tokens.take("a")
    tokens.take("a")
    tokens.set_pressure({"a": None}, only=True)
    tokens.put("a")
    tokens.wait("a", 1)
    tokens.sweep_pressured()  # two were in use since pressure began, one is wanted: one goes
    assert tokens.returns() == {"a": 1}
    tokens.sweep_pressured()  # one in use since, one wanted
    assert tokens.returns() == {"a": 1}
    assert tokens["a"].tokens == 2
    tokens.sweep()  # the pool is not under pressure: the slow sweep keeps the peak of two, and the wanted one
    assert tokens.returns() == {POOL: 1}


def test_surplus_beyond_a_lowered_limit_goes_back_once_unused():
    tokens = _holding({"a": 3, POOL: 3}, {"a": 3})
    for _ in range(3):
        tokens.take("a")
    tokens["a"].limit = 1
    assert tokens.put("a")  # two in use, limit one: one token is surplus
    assert tokens.returns() == {"a": 1}
    tokens.put("a")
    tokens.put("a")
    assert tokens.returns() == {"a": 1}
    assert tokens["a"].tokens == 1


def test_forgotten_tokens_are_dropped_before_counted_ones_and_restored_as_far_as_they_fit():
    tokens = _holding({"a": 2, POOL: 2}, {"a": 5})
    assert tokens.unregister_all() == 4
    tokens.add({"a": 1, POOL: 1}, counted=True)  # granted under the new incarnation
    assert tokens.unregistered() == ({"a": 2, POOL: 2}, {"a": 5})
    assert tokens.give_back("a", 1) == 1  # an unregistered one: nothing to send
    assert tokens.returns() == {}
    tokens.restored({"a": 2, POOL: 2}, {"a": 2, POOL: 1})
    # "a": one left to restore, two accepted: the ledger counts one we no longer have.
    assert tokens.returns() == {"a": 1}
    assert (tokens["a"].held, tokens["a"].unregistered) == (2, 0)
    assert (tokens[POOL].held, tokens[POOL].unregistered) == (2, 0)


def test_granted_tokens_left_unused_go_back_only_where_others_need_them():
    tokens = _holding({"a": 1, POOL: 2}, {"a": 5, "b": 5})
    tokens.take("a")
    tokens.set_pressure({POOL: None}, only=True)
    tokens.add({"b": 1}, counted=True)  # granted with a pool token for an admission throttled meanwhile
    tokens.give_back_unused({"b": 1, POOL: 1})
    assert tokens.returns() == {POOL: 1}
    assert tokens["b"].tokens == 1


def test_under_pressure_idle_tokens_beyond_the_share_go_back_even_if_used_recently():
    tokens = _holding({"a": 4, POOL: 4}, {"a": 5})
    tokens.set_pressure({"a": 2}, only=True)
    for _ in range(3):
        tokens.take("a")
    for _ in range(3):
        tokens.put("a")
    tokens.sweep_pressured()  # three used since the last sweep, but the share is two
    assert tokens.returns() == {"a": 2}
