"""A gateway's token bookkeeping (pure, no asyncio)."""

from __future__ import annotations

from collections import Counter
from weakref import WeakKeyDictionary

from serverless_ray.quota.ledger import POOL
from serverless_ray.quota.tokens import GatewayTokens

_seen: WeakKeyDictionary = WeakKeyDictionary()


def delivered(tokens: GatewayTokens) -> dict[str, int]:
    """What went back since the last look: the growth of the cumulative totals the next
    call carries, acknowledged as a ledger's reply would."""
    totals = tokens.returns()
    tokens.acknowledge(totals)
    seen = _seen.setdefault(tokens, Counter())
    grown = {key: total - seen[key] for key, total in totals.items() if total > seen[key]}
    seen.update(grown)
    return grown


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
    assert delivered(tokens) == {"a": 1, POOL: 1}
    tokens.sweep()  # none used since
    assert delivered(tokens) == {"a": 3, POOL: 3}
    assert not tokens.holding()


def test_under_pressure_tokens_unused_since_the_last_sweep_go_back_but_not_those_a_waiter_needs():
    tokens = _holding({"a": 4, POOL: 4}, {"a": 5})
    tokens.take("a")
    tokens.take("a")
    tokens.set_pressure({"a": None}, only=True)
    tokens.put("a")
    tokens.wait("a", 1)
    tokens.sweep_pressured()  # two were in use since pressure began, one is wanted: one goes
    assert delivered(tokens) == {"a": 1}
    tokens.sweep_pressured()  # one in use since, one wanted
    assert delivered(tokens) == {"a": 1}
    assert tokens["a"].tokens == 2
    tokens.sweep()  # the pool is not under pressure: the slow sweep keeps the peak of two, and the wanted one
    assert delivered(tokens) == {POOL: 1}


def test_surplus_beyond_a_lowered_limit_goes_back_once_unused():
    tokens = _holding({"a": 3, POOL: 3}, {"a": 3})
    for _ in range(3):
        tokens.take("a")
    tokens["a"].limit = 1
    assert tokens.put("a")  # two in use, limit one: one token is surplus
    assert delivered(tokens) == {"a": 1}
    tokens.put("a")
    tokens.put("a")
    assert delivered(tokens) == {"a": 1}
    assert tokens["a"].tokens == 1


def test_forgotten_tokens_are_dropped_before_counted_ones_and_restored_as_far_as_they_fit():
    tokens = _holding({"a": 2, POOL: 2}, {"a": 5})
    assert tokens.unregister_all() == 4
    tokens.add({"a": 1, POOL: 1}, counted=True)  # granted under the new incarnation
    assert tokens.unregistered() == ({"a": 2, POOL: 2}, {"a": 5})
    assert tokens.give_back("a", 1) == 1  # an unregistered one: nothing to send
    assert delivered(tokens) == {}
    tokens.restored({"a": 2, POOL: 2}, {"a": 2, POOL: 1})
    # "a": one left to restore, two accepted: the ledger counts one we no longer have.
    assert delivered(tokens) == {"a": 1}
    assert (tokens["a"].held, tokens["a"].unregistered) == (2, 0)
    assert (tokens[POOL].held, tokens[POOL].unregistered) == (2, 0)


def test_granted_tokens_left_unused_go_back_only_where_others_need_them():
    tokens = _holding({"a": 1, POOL: 2}, {"a": 5, "b": 5})
    tokens.take("a")
    tokens.set_pressure({POOL: None}, only=True)
    tokens.add({"b": 1}, counted=True)  # granted with a pool token for an admission throttled meanwhile
    tokens.give_back_unused({"b": 1, POOL: 1})
    assert delivered(tokens) == {POOL: 1}
    assert tokens["b"].tokens == 1


def test_under_pressure_idle_tokens_beyond_the_share_go_back_even_if_used_recently():
    tokens = _holding({"a": 4, POOL: 4}, {"a": 5})
    tokens.set_pressure({"a": 2}, only=True)
    for _ in range(3):
        tokens.take("a")
    for _ in range(3):
        tokens.put("a")
    tokens.sweep_pressured()  # three used since the last sweep, but the share is two
    assert delivered(tokens) == {"a": 2}


def test_returns_are_cumulative_and_repeated_until_acknowledged():
    tokens = _holding({"a": 3, POOL: 3}, {"a": 5})
    tokens.give_back("a", 1)
    assert tokens.returns() == {"a": 1}
    tokens.give_back("a", 1)
    assert tokens.returns() == {"a": 2}  # the first call's return is not acknowledged yet: both go
    tokens.acknowledge({"a": 1})  # the first reply
    assert tokens.returns() == {"a": 2} and tokens.returning()
    tokens.acknowledge({"a": 2})
    tokens.acknowledge({"a": 1})  # a late reply never moves the acknowledgement back
    assert tokens.returns() == {} and not tokens.returning()


def test_a_return_not_sent_yet_is_taken_back_when_demand_comes_back():
    tokens = _holding({"a": 2, POOL: 2}, {"a": 2})
    tokens.sweep()  # nothing was used: both go back, but no call has carried them yet
    assert tokens["a"].tokens == 0 and tokens.returning()
    assert tokens.take("a") and tokens.take("a")  # taken back, no remote call
    assert not tokens.take("a")  # the limit, not the tokens set aside, bounds it
    assert tokens.returns() == {} and not tokens.returning()


def test_a_sent_return_is_not_taken_back():
    tokens = _holding({"a": 1, POOL: 1}, {"a": 2})
    tokens.sweep()
    assert tokens.returns() == {"a": 1, POOL: 1}  # on its way: the ledger may have applied it
    assert not tokens.take("a")


def test_a_new_incarnation_starts_the_totals_again():
    tokens = _holding({"a": 2, POOL: 2}, {"a": 5})
    tokens.give_back("a", 1)
    assert tokens.returns() == {"a": 1}
    tokens.unregister_all()  # the ledger forgot us, and what we returned under the old incarnation
    assert tokens.returns() == {} and not tokens.returning()
    tokens.add({"a": 1}, counted=True)  # granted under the new incarnation
    tokens.give_back("a", 2)  # the uncounted one is dropped, the counted one returned
    assert tokens.returns() == {"a": 1}
