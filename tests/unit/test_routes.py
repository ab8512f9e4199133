"""RouteBoard: versioned routes and long-poll waits."""

import asyncio
import time

from serverless_ray.control.route_board import RouteBoard
from serverless_ray.messages import Route

ROUTE_A = Route("Endpoint-A", "AllTraffic", "app-a-1", max_concurrency=5)
ROUTE_B = Route("endpoint-b", "AllTraffic", None, max_concurrency=0)


def test_new_board_is_empty_at_version_zero():
    board = RouteBoard()
    assert board.version == 0
    assert board.snapshot() == (0, {})
    assert board.get("endpoint-a") is None


def test_publish_bumps_version_and_stores_routes():
    board = RouteBoard()
    board.publish({"endpoint-a": ROUTE_A})
    assert board.version == 1
    assert board.snapshot() == (1, {"endpoint-a": ROUTE_A})


def test_get_is_case_insensitive_for_lower_case_keys():
    board = RouteBoard()
    board.publish({"endpoint-a": ROUTE_A})
    assert board.get("ENDPOINT-A") is ROUTE_A
    assert board.get("Endpoint-A") is ROUTE_A


def test_publishing_equal_routes_keeps_the_version():
    board = RouteBoard()
    board.publish({"endpoint-a": ROUTE_A})
    board.publish({"endpoint-a": Route("Endpoint-A", "AllTraffic", "app-a-1", max_concurrency=5)})
    board.publish(dict(board.snapshot()[1]))
    assert board.version == 1


def test_publishing_empty_routes_on_a_new_board_keeps_version_zero():
    board = RouteBoard()
    board.publish({})
    assert board.version == 0


def test_every_change_bumps_the_version():
    board = RouteBoard()
    board.publish({"endpoint-a": ROUTE_A})
    board.publish({"endpoint-a": ROUTE_A, "endpoint-b": ROUTE_B})
    board.publish({"endpoint-a": Route("Endpoint-A", "AllTraffic", "app-a-2", max_concurrency=5)})
    board.publish({})
    assert board.version == 4
    assert board.snapshot() == (4, {})


def test_snapshot_and_publish_copy_the_mapping():
    board = RouteBoard()
    routes = {"endpoint-a": ROUTE_A}
    board.publish(routes)
    routes["endpoint-b"] = ROUTE_B
    _, snapshot = board.snapshot()
    snapshot.clear()
    assert board.snapshot() == (1, {"endpoint-a": ROUTE_A})


def test_wait_newer_returns_at_once_when_version_differs():
    async def scenario():
        board = RouteBoard()
        board.publish({"endpoint-a": ROUTE_A})
        waiter = asyncio.ensure_future(board.wait_newer(0, timeout_s=3600))
        await asyncio.sleep(0)  # one turn of the loop: it must not have waited for anything
        assert waiter.done()
        return waiter.result()

    assert asyncio.run(scenario()) == (1, {"endpoint-a": ROUTE_A})


def test_wait_newer_returns_current_routes_after_timeout():
    async def scenario():
        board = RouteBoard()
        board.publish({"endpoint-a": ROUTE_A})
        started = time.monotonic()
        result = await board.wait_newer(1, timeout_s=0.05)
        return result, time.monotonic() - started

    result, elapsed = asyncio.run(scenario())
    assert result == (1, {"endpoint-a": ROUTE_A})
    assert elapsed >= 0.04  # it did wait for the timeout (a lower bound cannot flake)


def test_wait_newer_wakes_on_publish():
    async def scenario():
        board = RouteBoard()
        waiter = asyncio.create_task(board.wait_newer(0, timeout_s=3600))
        await asyncio.sleep(0.01)
        assert not waiter.done()
        board.publish({"endpoint-b": ROUTE_B})
        for _ in range(3):  # woken by the publish itself, not by a timer
            await asyncio.sleep(0)
        assert waiter.done()
        return waiter.result()

    assert asyncio.run(scenario()) == (1, {"endpoint-b": ROUTE_B})


def test_unchanged_publish_does_not_wake_waiters():
    async def scenario():
        board = RouteBoard()
        board.publish({"endpoint-a": ROUTE_A})
        waiter = asyncio.create_task(board.wait_newer(1, timeout_s=0.1))
        await asyncio.sleep(0.01)
        board.publish({"endpoint-a": ROUTE_A})
        await asyncio.sleep(0.01)
        done_early = waiter.done()
        return done_early, await waiter

    done_early, result = asyncio.run(scenario())
    assert done_early is False
    assert result == (1, {"endpoint-a": ROUTE_A})


def test_several_waiters_all_wake():
    async def scenario():
        board = RouteBoard()
        waiters = [asyncio.create_task(board.wait_newer(0, timeout_s=5)) for _ in range(3)]
        await asyncio.sleep(0.01)
        board.publish({"endpoint-a": ROUTE_A})
        return await asyncio.wait_for(asyncio.gather(*waiters), 1)

    assert asyncio.run(scenario()) == [(1, {"endpoint-a": ROUTE_A})] * 3
