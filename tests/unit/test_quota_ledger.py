"""The ledger's bookkeeping, with a fake clock."""

from __future__ import annotations

import pytest

from serverless_ray.quota.ledger import Grant, Ledger
from serverless_ray.quota.limits import default_pool


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


def _plain(grant: Grant) -> tuple:
    return grant.granted, grant.short_of, grant.limit


def test_grants_up_to_the_endpoint_limit(clock):
    ledger = Ledger(pool=100, clock=clock)
    assert _plain(ledger.acquire("g1", "ep", 1, limit=2)) == (1, None, 0)
    assert _plain(ledger.acquire("g2", "ep", 1, limit=2)) == (1, None, 0)
    assert _plain(ledger.acquire("g1", "ep", 1, limit=2)) == (0, "endpoint", 2)
    assert ledger.held_for("ep") == 2


def test_grants_up_to_the_pool_across_endpoints(clock):
    ledger = Ledger(pool=3, clock=clock)
    assert ledger.acquire("g1", "a", 2, limit=5).granted == 2
    assert _plain(ledger.acquire("g1", "b", 2, limit=5)) == (1, "account", 3)
    assert _plain(ledger.acquire("g2", "c", 1, limit=5)) == (0, "account", 3)
    assert ledger.total == 3


def test_release_returns_tokens_and_never_below_zero(clock):
    ledger = Ledger(pool=3, clock=clock)
    ledger.acquire("g1", "a", 2, limit=5)
    ledger.release("g1", {"a": 5})  # more than held: only what is held comes back
    assert ledger.total == 0
    assert ledger.holdings("g1") == {}
    ledger.release("unknown", {"a": 1})
    assert ledger.total == 0


def test_lowered_limit_grants_nothing_until_holdings_drop(clock):
    ledger = Ledger(pool=10, clock=clock)
    ledger.acquire("g1", "a", 3, limit=3)
    assert _plain(ledger.acquire("g1", "a", 1, limit=2)) == (0, "endpoint", 2)
    ledger.release("g1", {"a": 2})
    assert _plain(ledger.acquire("g1", "a", 1, limit=2)) == (1, None, 0)


def test_expired_lease_gives_tokens_back(clock):
    ledger = Ledger(pool=2, lease_ttl_s=5, clock=clock)
    ledger.acquire("dead", "a", 2, limit=2)
    clock.now += 4
    ledger.renew("alive", 0)
    assert ledger.acquire("alive", "a", 1, limit=2).granted == 0
    clock.now += 2  # the dead gateway never renewed
    assert ledger.acquire("alive", "a", 1, limit=2).granted == 1
    assert "dead" not in ledger.gateways()


def test_renew_keeps_a_lease_alive(clock):
    ledger = Ledger(pool=2, lease_ttl_s=5, clock=clock)
    incarnation = ledger.acquire("g", "a", 2, limit=2).incarnation
    for _ in range(5):
        clock.now += 3
        assert ledger.renew("g", incarnation) == incarnation
    assert ledger.total == 2


def test_restarted_ledger_recovers_holdings_and_refuses_during_recovery(clock):
    ledger = Ledger(pool=4, recovery_s=1.5, clock=clock)
    assert _plain(ledger.acquire("g1", "a", 1, limit=4)) == (0, "recovering", 0)
    # Gateways learn they were forgotten from their heartbeat, then restore what they held.
    g1 = ledger.renew("g1", incarnation=1)
    assert ledger.restore("g1", {"a": 3}, {"a": 4}, g1) == {"a": 3}
    g2 = ledger.renew("g2", incarnation=1)
    assert ledger.restore("g2", {"a": 3}, {"a": 4}, g2) == {"a": 1}  # only what still fits
    clock.now += 2
    assert _plain(ledger.acquire("g3", "b", 1, limit=4)) == (0, "account", 4)


def test_restore_for_a_stale_incarnation_counts_nothing(clock):
    ledger = Ledger(pool=10, lease_ttl_s=5, clock=clock)
    old = ledger.acquire("g", "a", 2, limit=10).incarnation
    clock.now += 6  # the lease ran out
    new = ledger.acquire("g", "a", 1, limit=10).incarnation
    assert new > old
    assert ledger.restore("g", {"a": 2}, {"a": 10}, old) == {}
    assert ledger.restore("g", {"a": 2}, {"a": 10}, new) == {"a": 2}
    assert ledger.total == 3


def test_holders(clock):
    ledger = Ledger(pool=10, clock=clock)
    ledger.acquire("g1", "a", 1, limit=5)
    ledger.acquire("g2", "b", 1, limit=5)
    assert ledger.holders("a") == ["g1"]
    assert sorted(ledger.holders()) == ["g1", "g2"]


def test_region_pools():
    assert default_pool("us-east-1") == 1000
    assert default_pool("eu-west-2") == 500
    with pytest.raises(ValueError, match="does not offer serverless inference"):
        default_pool("cn-north-1")
