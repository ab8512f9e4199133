"""A gateway's view of the platform actors (PlatformHealth), the controller client's
fast ServiceUnavailable while the controller is down, and the `up` process's watch."""

from __future__ import annotations

import asyncio
import logging

import pytest
from ray.exceptions import ActorUnavailableError

from serverless_ray.errors import ServiceUnavailable
from serverless_ray.gateway.controller_client import CONTROLLER, ControllerClient
from serverless_ray.gateway.platform_health import PlatformHealth
from serverless_ray.platform_watch import PlatformWatch, Probed


class Flaky:
    """A ping that fails while ``error`` is set, or never answers while ``hang``."""

    def __init__(self) -> None:
        self.error: Exception | None = None
        self.hang = False
        self.calls = 0

    async def __call__(self) -> bool:
        self.calls += 1
        if self.hang:
            await asyncio.Event().wait()
        if self.error is not None:
            raise self.error
        return True


def test_down_while_pings_fail_up_once_one_answers():
    async def scenario():
        ledger = Flaky()
        health = PlatformHealth({"ledger": ledger}, timeout_s=0.05)
        await health.check()
        assert health.down() == {}
        ledger.error = RuntimeError("the actor died\nmore lines")
        await health.check()
        assert health.down() == {"ledger": "RuntimeError: the actor died"}
        ledger.error, ledger.hang = None, True
        await health.check()  # still restarting: as it was
        assert list(health.down()) == ["ledger"]
        ledger.hang = False
        await health.check()
        assert health.down() == {}
        ledger.hang = True
        await health.check()  # slow is not down
        assert health.down() == {}

    asyncio.run(scenario())


class Method:
    def __init__(self, handle: "Handle", name: str) -> None:
        self._handle, self._name = handle, name

    def remote(self, *args):
        return self._handle.answer(self._name, args)


class Handle:
    """An actor handle whose calls answer at once, or fail as a dead actor's do."""

    def __init__(self) -> None:
        self.dead = False
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Method:
        return Method(self, name)

    async def answer(self, name: str, args: tuple):
        self.calls.append(name)
        if self.dead:
            raise ActorUnavailableError("The actor is restarting", b"0" * 16)
        return {"ok": True} if name == "call" else None


def test_a_dead_controller_makes_calls_answer_service_unavailable_at_once_until_a_ping_answers():
    async def scenario():
        handle = Handle()
        health = PlatformHealth({CONTROLLER: lambda: handle.ping.remote()})
        client = ControllerClient(handle, health)
        assert await client.call("SageMaker", "ListEndpoints", {}) == {"ok": True}
        handle.dead = True
        reply = await client.call("SageMaker", "ListEndpoints", {})
        assert isinstance(reply, ServiceUnavailable) and reply.status == 503
        assert health.is_down(CONTROLLER)
        handle.calls.clear()
        # While down nothing waits in Ray's queue for the restart: the gateway answers itself.
        assert isinstance(await client.call("SageMaker", "ListEndpoints", {}), ServiceUnavailable)
        with pytest.raises(ServiceUnavailable):
            await client.report_demand("gw", {})
        assert handle.calls == []
        handle.dead = False
        await health.check()
        assert await client.call("SageMaker", "ListEndpoints", {}) == {"ok": True}

    asyncio.run(scenario())


def test_the_watch_logs_each_going_down_and_coming_back_once(caplog):
    state = {"controller": Probed(pid=10), "quota ledger": Probed(pid=11)}
    now = [100.0]
    watch = PlatformWatch(lambda: dict(state), clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="serverless_ray.platform"):
        assert watch.poll() == {}
        state["controller"] = Probed(down="ActorDiedError")
        assert watch.poll() == {"controller": "ActorDiedError"}
        now[0] += 7.5
        watch.poll()
        state["controller"] = Probed(pid=12)
        assert watch.poll() == {}
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "the controller is down (ActorDiedError)" in messages[0]
    assert "the controller is back after 7.5 s" in messages[1]


def test_a_restart_between_two_polls_is_logged_as_down_and_back(caplog):
    """Ray restarted the ledger faster than a ping gives up: no poll saw it down, but
    another process answers."""
    state = {"quota ledger": Probed(pid=20)}
    now = [50.0]
    watch = PlatformWatch(lambda: dict(state), clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="serverless_ray.platform"):
        watch.poll()
        now[0] += 2.0
        watch.poll()  # the same process: nothing to say
        state["quota ledger"] = Probed(pid=21)
        now[0] += 2.0
        assert watch.poll() == {}
        now[0] += 2.0
        watch.poll()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert "the quota ledger is down (its process 20 ended; process 21 answers now)" in messages[0]
    assert "the quota ledger is back after 2.0 s" in messages[1]


def test_a_probe_that_fails_is_not_a_transition():
    def probe():
        raise TimeoutError("Ray is busy")

    assert PlatformWatch(probe).poll() == {}
