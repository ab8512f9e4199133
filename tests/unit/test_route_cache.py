"""A gateway's route cache: the controller's routes, and unknown names remembered briefly."""

from __future__ import annotations

import asyncio

from fake_clock import FakeClock

from serverless_ray.gateway.routing import RouteCache
from serverless_ray.messages import Route

LIVE = Route("ep", "AllTraffic", "sr-ep-g1", 2)


class Source:
    """The controller's route board, as far as the cache sees it."""

    def __init__(self) -> None:
        self.version = 1
        self.routes = {"ep": LIVE}
        self.asked: list[str] = []

    async def watch_routes(self, version: int, timeout_s: float):
        if version == self.version:
            await asyncio.sleep(3600)
        return self.version, dict(self.routes)

    async def route(self, endpoint: str):
        self.asked.append(endpoint)
        return self.routes.get(endpoint.lower())


def _scenario(steps):
    async def run():
        source, clock = Source(), FakeClock()
        cache = RouteCache(source, unknown_ttl_s=1.0, clock=clock)
        await cache.start()
        try:
            return await steps(cache, source, clock)
        finally:
            cache.stop()

    return asyncio.run(run())


def test_known_routes_are_answered_locally():
    async def steps(cache, source, clock):
        return await cache.lookup("EP"), source.asked

    assert _scenario(steps) == (LIVE, [])


def test_an_unknown_name_asks_the_controller_once_per_ttl():
    async def steps(cache, source, clock):
        for _ in range(5):
            assert await cache.lookup("nope") is None
        first = list(source.asked)
        clock.now = 1.5
        assert await cache.lookup("Nope") is None
        return first, source.asked

    assert _scenario(steps) == (["nope"], ["nope", "Nope"])


def test_a_change_of_the_routes_forgets_unknown_names_at_once():
    async def steps(cache, source, clock):
        assert await cache.lookup("new") is None
        source.routes["new"] = Route("new", "AllTraffic", "sr-new-g1", 1)
        source.version = 2
        for _ in range(20):  # the long poll returns the new version
            await asyncio.sleep(0)
        return await cache.lookup("new")

    assert _scenario(steps).app_name == "sr-new-g1"


def test_a_route_without_an_application_is_asked_for_again():
    async def steps(cache, source, clock):
        source.routes["creating"] = Route("creating", "AllTraffic", None, 0)
        source.version = 2
        for _ in range(20):
            await asyncio.sleep(0)
        await cache.lookup("creating")
        await cache.lookup("creating")
        return source.asked

    assert _scenario(steps) == ["creating", "creating"]
