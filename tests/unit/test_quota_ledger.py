"""The ledger's bookkeeping, with a fake clock."""

from __future__ import annotations

import pytest
from fake_clock import FakeClock

from serverless_ray.quota.ledger import POOL, Ledger, Reclaimed, Reply
from serverless_ray.quota.limits import default_pool


@pytest.fixture
def clock():
    return FakeClock(100.0)


def _want(ledger: Ledger, gateway: str, endpoint: str, n: int = 1, limit: int = 100, *, returned=None,
          incarnation: int = 0, park: bool = False):
    """Ask for ``n`` admissions of ``endpoint``: n tokens of the endpoint and n of the pool."""
    return ledger.exchange(gateway, incarnation, {endpoint: n, POOL: n}, {endpoint: limit}, returned, park=park)


def _granted(reply: Reply) -> tuple:
    return tuple(sorted(reply.granted.items())), tuple(sorted(reply.short.items()))


def test_grants_up_to_the_endpoint_limit(clock):
    ledger = Ledger(pool=100, clock=clock)
    assert _granted(_want(ledger, "g1", "ep", limit=2)[0]) == ((("*", 1), ("ep", 1)), ())
    assert _granted(_want(ledger, "g2", "ep", limit=2)[0]) == ((("*", 1), ("ep", 1)), ())
    assert _granted(_want(ledger, "g1", "ep", limit=2)[0]) == ((("*", 1),), (("ep", ("endpoint", 2)),))
    assert ledger.held_for("ep") == 2


def test_pool_tokens_are_shared_by_all_endpoints(clock):
    ledger = Ledger(pool=3, clock=clock)
    assert _want(ledger, "g1", "a", 2, limit=5)[0].granted == {"a": 2, POOL: 2}
    reply, _ = _want(ledger, "g1", "b", 2, limit=5)
    assert reply.granted == {"b": 2, POOL: 1}
    assert reply.short == {POOL: ("account", 3)}
    assert _want(ledger, "g2", "c", limit=5)[0].short == {POOL: ("account", 3)}
    assert ledger.total == 3
    # Endpoint tokens do not take pool tokens: returning pool tokens alone frees the pool.
    ledger.exchange("g1", ledger.exchange("g1", 0)[0].incarnation, returned={POOL: 2})
    assert ledger.total == 1 and ledger.held_for("a") == 2


def test_returns_count_only_under_the_current_incarnation_and_never_below_zero(clock):
    ledger = Ledger(pool=3, clock=clock)
    incarnation = _want(ledger, "g1", "a", 2, limit=5)[0].incarnation
    ledger.exchange("g1", incarnation - 1, returned={"a": 2, POOL: 2})  # a stale incarnation
    assert ledger.total == 2
    ledger.exchange("g1", incarnation, returned={"a": 5, POOL: 5})  # more than held
    assert ledger.total == 0
    assert ledger.holdings("g1") == {}


def test_lowered_limit_grants_nothing_until_holdings_drop(clock):
    ledger = Ledger(pool=10, clock=clock)
    incarnation = _want(ledger, "g1", "a", 3, limit=3)[0].incarnation
    assert _want(ledger, "g1", "a", 1, limit=2)[0].short == {"a": ("endpoint", 2)}
    assert _want(ledger, "g1", "a", 1, limit=2, returned={"a": 2}, incarnation=incarnation)[0].granted["a"] == 1


def test_expired_lease_gives_tokens_back(clock):
    ledger = Ledger(pool=2, lease_ttl_s=5, clock=clock)
    _want(ledger, "dead", "a", 2, limit=2)
    clock.now += 4
    assert _want(ledger, "alive", "a", 1, limit=2)[0].granted == {}
    clock.now += 2  # the dead gateway never renewed
    assert _want(ledger, "alive", "a", 1, limit=2)[0].granted == {"a": 1, POOL: 1}
    assert "dead" not in ledger.gateways()


def test_any_exchange_keeps_a_lease_alive(clock):
    ledger = Ledger(pool=2, lease_ttl_s=5, clock=clock)
    incarnation = _want(ledger, "g", "a", 2, limit=2)[0].incarnation
    for _ in range(5):
        clock.now += 3
        assert ledger.exchange("g", incarnation)[0].incarnation == incarnation
    assert ledger.total == 2


def test_restarted_ledger_recovers_holdings_and_refuses_during_recovery(clock):
    ledger = Ledger(pool=4, recovery_s=1.5, clock=clock)
    reply, _ = _want(ledger, "g1", "a", limit=4)
    assert reply.granted == {} and reply.short == {"a": ("recovering", 0), POOL: ("recovering", 0)}
    # Gateways learn they were forgotten from their next call, then restore what they held.
    g1 = reply.incarnation
    assert ledger.restore("g1", {"a": 3, POOL: 3}, {"a": 4}, g1) == {"a": 3, POOL: 3}
    g2 = ledger.exchange("g2", 1)[0].incarnation
    assert ledger.restore("g2", {"a": 3, POOL: 3}, {"a": 4}, g2) == {"a": 1, POOL: 1}  # only what fits
    clock.now += 2
    assert _want(ledger, "g3", "b", limit=4)[0].short == {POOL: ("account", 4)}


def test_restore_for_a_stale_incarnation_counts_nothing(clock):
    ledger = Ledger(pool=10, lease_ttl_s=5, clock=clock)
    old = _want(ledger, "g", "a", 2, limit=10)[0].incarnation
    clock.now += 6  # the lease ran out
    new = _want(ledger, "g", "a", 1, limit=10)[0].incarnation
    assert new > old
    assert ledger.restore("g", {"a": 2}, {"a": 10}, old) == {}
    assert ledger.restore("g", {"a": 2}, {"a": 10}, new) == {"a": 2}
    assert ledger.held_for("a") == 3


def test_parked_want_gets_returned_tokens_first(clock):
    ledger = Ledger(pool=10, clock=clock)
    holder = _want(ledger, "g1", "a", 2, limit=2)[0].incarnation
    reply, ticket = _want(ledger, "g2", "a", 1, limit=2, park=True)
    assert ticket is not None and reply.granted == {POOL: 1} and reply.short == {}
    # A third gateway asking later does not jump the queue.
    assert _want(ledger, "g3", "a", 1, limit=2)[0].short == {"a": ("endpoint", 2)}
    ledger.exchange("g1", holder, returned={"a": 1, POOL: 1})
    assert ledger.completed() == [ticket]
    late = ledger.unpark(ticket)
    assert late.granted == {"a": 1} and late.short == {}
    assert ledger.holdings("g2") == {"a": 1, POOL: 1}


def test_parked_want_that_times_out_is_short(clock):
    ledger = Ledger(pool=10, clock=clock)
    _want(ledger, "g1", "a", 2, limit=2)
    _, ticket = _want(ledger, "g2", "a", 1, limit=2, park=True)
    late = ledger.unpark(ticket)
    assert late.granted == {} and late.short == {"a": ("endpoint", 2)}
    assert ledger.completed() == []


def test_cancelled_parked_want_gives_its_grants_back(clock):
    ledger = Ledger(pool=10, clock=clock)
    holder = _want(ledger, "g1", "a", 2, limit=3)[0].incarnation
    _, ticket = ledger.exchange("g2", 0, {"a": 3}, {"a": 3}, park=True)  # one fits, two park
    ledger.exchange("g1", holder, returned={"a": 1})
    assert ledger.holdings("g2") == {"a": 2}  # not complete yet: still parked
    ledger.cancel(ticket)
    assert ledger.held_for("a") == 1 + 1  # g1's one, and the one g2 got at once


def test_expired_lease_serves_parked_wants(clock):
    ledger = Ledger(pool=10, lease_ttl_s=5, clock=clock)
    _want(ledger, "dead", "a", 1, limit=1)
    clock.now += 4
    _, ticket = _want(ledger, "g", "a", 1, limit=1, park=True)
    clock.now += 2
    ledger.expire()
    assert ledger.completed() == [ticket]
    assert ledger.unpark(ticket).granted == {"a": 1}


def test_reclaim_asks_every_other_holder_of_what_is_missing(clock):
    ledger = Ledger(pool=10, clock=clock)
    _want(ledger, "g1", "a", 1, limit=2)
    _want(ledger, "g2", "a", 1, limit=2)
    _want(ledger, "g3", "b", 1, limit=2)
    _, ticket = _want(ledger, "g2", "a", 1, limit=2, park=True)
    assert ledger.reclaim_targets(ticket) == {"g1": ["a"]}  # not g2 itself, not g3 (no "a")
    ledger.unpark(ticket)


def test_a_reclaimed_answer_serves_the_parked_want(clock):
    ledger = Ledger(pool=10, clock=clock)
    holder = _want(ledger, "g1", "a", 2, limit=2)[0].incarnation
    _, ticket = _want(ledger, "g2", "a", 1, limit=2, park=True)
    ledger.take_returned("g1", Reclaimed(holder - 1, {"a": 1}))  # a stale incarnation: ignored
    assert ledger.completed() == []
    ledger.take_returned("g1", Reclaimed(holder, {"a": 1}))
    assert ledger.completed() == [ticket]
    # The same total arriving again with g1's next call counts nothing twice.
    ledger.exchange("g1", holder, returned={"a": 1})
    assert ledger.holdings("g1") == {"a": 1, POOL: 2}


def test_cumulative_returns_count_once_in_whatever_order_the_calls_arrive(clock):
    ledger = Ledger(pool=10, clock=clock)
    me = _want(ledger, "g1", "a", 2, limit=2)[0].incarnation
    # The gateway gave back one token (call 1, still on its way), then wanted one (call 2,
    # carrying the same total): call 2 arrives first and finds the token free.
    reply, _ = ledger.exchange("g1", me, {"a": 1}, {"a": 2}, returned={"a": 1})
    assert reply.granted == {"a": 1} and reply.short == {}
    ledger.exchange("g1", me, returned={"a": 1})  # call 1, late: nothing more is taken back
    assert ledger.held_for("a") == 2
    ledger.exchange("g1", me, returned={"a": 3})  # two more since
    assert ledger.held_for("a") == 0


def test_pressure_when_a_shared_limit_is_nearly_used_up_with_equal_shares(clock):
    ledger = Ledger(pool=100, clock=clock)
    assert _want(ledger, "g1", "a", 3, limit=4)[0].pressure == {}  # alone: keep tokens
    assert _want(ledger, "g2", "a", 1, limit=4)[0].pressure == {"a": 2}
    assert _want(ledger, "g2", "b", 1, limit=40)[0].pressure == {"a": 2}
    _, ticket = _want(ledger, "g3", "a", 1, limit=4, park=True)  # a third gateway waits for "a"
    assert _want(ledger, "g1", "b", 1, limit=40)[0].pressure == {"a": 1}
    ledger.unpark(ticket)


def test_raised_pool_serves_parked_wants(clock):
    ledger = Ledger(pool=1, clock=clock)
    _want(ledger, "g1", "a", 1)
    _, ticket = _want(ledger, "g2", "b", 1, park=True)
    ledger.set_pool(2)
    assert ledger.completed() == [ticket]
    assert ledger.unpark(ticket).granted == {POOL: 1}


def test_region_pools():
    assert default_pool("us-east-1") == 1000
    assert default_pool("eu-west-2") == 500
    with pytest.raises(ValueError, match="does not offer serverless inference"):
        default_pool("cn-north-1")
