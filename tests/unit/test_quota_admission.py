"""A gateway's admission against an in-memory ledger (no Ray)."""

from __future__ import annotations

import asyncio

import pytest

from serverless_ray.quota.admission import LocalAdmission, Throttled
from serverless_ray.quota.ledger import Grant, Ledger


class InMemoryLedger:
    """The real ledger behind an async facade, counting remote calls."""

    def __init__(self, pool: int, delay_s: float = 0.0) -> None:
        self.ledger = Ledger(pool)
        self.calls = 0
        self.delay_s = delay_s

    async def acquire(self, gateway, endpoint, want, limit) -> Grant:
        self.calls += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return self.ledger.acquire(gateway, endpoint, want, limit)

    async def release(self, gateway, returned) -> None:
        self.ledger.release(gateway, returned)

    async def renew(self, gateway, incarnation):
        return self.ledger.renew(gateway, incarnation)

    async def restore(self, gateway, tokens, limits, incarnation):
        return self.ledger.restore(gateway, tokens, limits, incarnation)


def run(coro):
    return asyncio.run(coro)


def test_reuses_held_tokens_without_remote_calls():
    async def scenario():
        ledger = InMemoryLedger(pool=10)
        gate = LocalAdmission("g", ledger)
        for _ in range(100):
            async with gate.slot("a", limit=2):
                pass
        return ledger.calls, gate.held("a"), gate.in_flight("a")

    assert run(scenario()) == (1, 1, 0)


def test_throttles_beyond_max_concurrency_at_once():
    async def scenario():
        gate = LocalAdmission("g", InMemoryLedger(pool=10))
        async with gate.slot("a", limit=2):
            async with gate.slot("a", limit=2):
                with pytest.raises(Throttled) as caught:
                    async with gate.slot("a", limit=2):
                        pass
                return caught.value.short_of, caught.value.limit

    assert run(scenario()) == ("endpoint", 2)


def test_slot_is_released_when_the_body_raises():
    async def scenario():
        gate = LocalAdmission("g", InMemoryLedger(pool=10))
        with pytest.raises(RuntimeError):
            async with gate.slot("a", limit=1):
                raise RuntimeError("model failed")
        async with gate.slot("a", limit=1):
            return gate.in_flight("a")

    assert run(scenario()) == 1


def test_cancelled_admission_does_not_leak_the_grant():
    async def scenario():
        ledger = InMemoryLedger(pool=10, delay_s=0.05)
        gate = LocalAdmission("g", ledger)

        async def admitted():
            async with gate.slot("a", limit=1):
                await asyncio.sleep(10)

        task = asyncio.create_task(admitted())
        await asyncio.sleep(0.01)  # inside the remote acquire
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.1)  # the shielded acquire completes
        # The token landed at the gateway and serves the next call without a new grant.
        calls = ledger.calls
        async with gate.slot("a", limit=1):
            pass
        return gate.held("a"), gate.in_flight("a"), ledger.calls - calls, ledger.ledger.total

    assert run(scenario()) == (1, 0, 0, 1)


def test_account_shortage_returns_idle_tokens_of_other_endpoints():
    async def scenario():
        ledger = InMemoryLedger(pool=2)
        gate = LocalAdmission("g", ledger, linger_s=60)
        async with gate.slot("a", limit=5):
            async with gate.slot("a", limit=5):
                pass
        # Two idle tokens of "a" are held; "b" needs one from the full pool.
        async with gate.slot("b", limit=5):
            return gate.held("a"), gate.held("b")

    assert run(scenario()) == (0, 1)


def test_account_shortage_throttles_when_nothing_is_idle():
    async def scenario():
        gate = LocalAdmission("g", InMemoryLedger(pool=1))
        async with gate.slot("a", limit=5):
            with pytest.raises(Throttled) as caught:
                async with gate.slot("b", limit=5):
                    pass
            return caught.value.short_of, caught.value.limit

    assert run(scenario()) == ("account", 1)


def test_reclaim_gives_idle_tokens_back():
    async def scenario():
        ledger = InMemoryLedger(pool=4)
        gate = LocalAdmission("g", ledger, linger_s=60)
        async with gate.slot("a", limit=4):
            async with gate.slot("a", limit=4):
                pass
        returned = gate.reclaim(["a"])
        await asyncio.sleep(0.01)
        return returned, ledger.ledger.total

    assert run(scenario()) == (2, 0)


def test_lowered_limit_returns_surplus_on_release():
    async def scenario():
        ledger = InMemoryLedger(pool=10)
        gate = LocalAdmission("g", ledger, linger_s=60)
        async with gate.slot("a", limit=3):
            async with gate.slot("a", limit=3):
                async with gate.slot("a", limit=3):
                    pass
        async with gate.slot("a", limit=1):
            pass
        await asyncio.sleep(0.01)
        return gate.held("a"), ledger.ledger.total

    assert run(scenario()) == (1, 1)


def test_idle_tokens_go_back_after_linger():
    async def scenario():
        ledger = InMemoryLedger(pool=10)
        gate = LocalAdmission("g", ledger, linger_s=0.05, heartbeat_s=0.01)
        gate.start()
        async with gate.slot("a", limit=3):
            pass
        held_right_after = ledger.ledger.total
        await asyncio.sleep(0.2)
        gate.stop()
        return held_right_after, ledger.ledger.total

    assert run(scenario()) == (1, 0)


def test_unreachable_ledger_throttles_instead_of_failing():
    class Down(InMemoryLedger):
        async def acquire(self, *args):
            raise ConnectionError("ledger restarting")

    async def scenario():
        gate = LocalAdmission("g", Down(pool=1))
        with pytest.raises(Throttled) as caught:
            async with gate.slot("a", limit=1):
                pass
        return caught.value.short_of

    assert run(scenario()) == "recovering"


def test_restarted_ledger_gets_our_tokens_back_and_cuts_what_no_longer_fits():
    async def scenario():
        ledger = InMemoryLedger(pool=3)
        gate = LocalAdmission("g", ledger, linger_s=60)
        async with gate.slot("a", limit=3):
            async with gate.slot("a", limit=3):
                async with gate.slot("a", limit=3):
                    pass
        ledger.ledger = Ledger(pool=3)  # restarted: knows nothing
        ledger.ledger.acquire("other", "a", 2, limit=3)
        await gate.heartbeat()
        await asyncio.sleep(0.01)  # the restore runs
        return gate.held("a"), ledger.ledger.total, ledger.ledger.holdings("g")

    assert run(scenario()) == (1, 3, {"a": 1})


def test_expired_lease_during_a_burst_never_counts_twice():
    """First contact after the lease ran out, with several grants in flight at once."""

    async def scenario():
        ledger = InMemoryLedger(pool=3, delay_s=0.01)
        gate = LocalAdmission("g", ledger, linger_s=60)
        async with gate.slot("a", limit=3):
            pass
        ledger.ledger.forget("g")  # the lease ran out while we held one idle token

        async def call():
            try:
                async with gate.slot("a", limit=3):
                    await asyncio.sleep(0.05)
                    return "ok"
            except Throttled:
                return "throttled"

        results = await asyncio.gather(*(call() for _ in range(5)))
        await asyncio.sleep(0.05)
        return sorted(results), ledger.ledger.total, gate.held("a")

    results, total, held = run(scenario())
    # Never more admitted than the limit, and the ledger counts what the gateway holds.
    assert results.count("ok") <= 3
    assert total == held <= 3


def test_request_whose_granted_token_was_taken_asks_again():
    """A grant lands, a request arriving meanwhile takes that token: neither is throttled."""

    class Racing(InMemoryLedger):
        competitor = None

        async def acquire(self, gateway, endpoint, want, limit):
            grant = await super().acquire(gateway, endpoint, want, limit)
            if self.competitor is not None:  # runs before the caller resumes
                asyncio.get_running_loop().call_soon(self.competitor)
                self.competitor = None
            return grant

    async def scenario():
        ledger = Racing(pool=100)
        gate = LocalAdmission("g", ledger, linger_s=60)
        outcomes = []

        async def call():
            try:
                async with gate.slot("a", limit=8):
                    await asyncio.sleep(0.05)
                    outcomes.append("ok")
            except Throttled:
                outcomes.append("throttled")

        tasks = []
        ledger.competitor = lambda: tasks.append(asyncio.ensure_future(call()))
        await call()
        await asyncio.gather(*tasks)
        return outcomes

    assert run(scenario()) == ["ok", "ok"]


def test_under_pressure_idle_tokens_go_back_at_once():
    async def scenario():
        ledger = InMemoryLedger(pool=100)
        first = LocalAdmission("g1", ledger, linger_s=60)
        second = LocalAdmission("g2", ledger, linger_s=60)
        async with first.slot("a", limit=2):  # alone: keeps its token for reuse
            pass
        async with second.slot("a", limit=2):  # the last token, while g1 holds one: hand it back
            pass
        await asyncio.sleep(0.01)
        return first.held("a"), second.held("a"), ledger.ledger.holdings("g2")

    assert run(scenario()) == (1, 0, {})
