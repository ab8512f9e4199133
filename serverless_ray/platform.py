"""Start and stop the whole platform: Ray (embedded or joined), Serve, the controller,
which runs the quota ledger and an entry point on every node. Used by ``serverless-ray
up``, the Serve keeper (``serve_app.py``), ``serverless_ray.run`` and the tests."""

from __future__ import annotations

import logging
import os
import time

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from serverless_ray import environments
from serverless_ray.auth.credentials import internal_principal
from serverless_ray.cluster_names import CONTROLLER_NAME, GATEWAY_NAME_PREFIX, NAMESPACE, QUOTA_LEDGER_NAME
from serverless_ray.control.serve_backend import ensure_serve_started
from serverless_ray.controller import PlatformController
from serverless_ray.gateway.fleet import GatewayInfo
from serverless_ray.gateway.gateway_actor import Gateway
from serverless_ray.gateway.ray_fleet import end_leftovers, fleet_gateway_names
from serverless_ray.platform_watch import Probed
from serverless_ray.settings import PlatformSettings

log = logging.getLogger(__name__)

# How long start() waits for a first gateway. Its first attempt has 60 s; on a node loaded
# far past its cores a worker process alone can take longer, and the fleet tries again
# every few seconds, so the platform comes up late rather than not at all.
GATEWAY_WAIT_S = 300.0
# A platform actor that does not answer a ping this soon counts as down (it is restarting).
PING_TIMEOUT_S = 5.0
# How long ``gateway`` waits for the successor of this node's gateway that died (the fleet
# starts it at once; a worker process takes seconds to start on a loaded machine).
SUCCESSOR_WAIT_S = 60.0


class PlatformAlreadyRunning(RuntimeError):
    pass


class Platform:
    """A running platform; ``start()`` returns once the entry point on every alive node
    answers ``/healthz``. ``attach()`` takes over a platform already running on the cluster.

    It follows its node's entry point: when that gateway dies, the controller's fleet
    starts another on the same port, and ``gateway``, ``url`` and ``port`` give the new
    one from then on."""

    def __init__(self, settings: PlatformSettings) -> None:
        update = {
            "state_dir": settings.state_dir.expanduser().resolve(),
            "artifact_cache_dir": settings.artifact_cache_dir.expanduser().resolve(),
            "prices_file": settings.prices_file.expanduser().resolve() if settings.prices_file else None,
            "replica_runtime_dir": settings.replica_runtime_dir.expanduser().resolve(),
        }
        if settings.credentials is not None and settings.internal_principal is None:
            # In-cluster callers sign with a key of their own, made anew for each start.
            update["internal_principal"] = internal_principal()
        self.settings = settings.model_copy(update=update)
        self._owns_ray = False
        self._controller = None
        self._gateway: GatewayInfo | None = None
        self._gateway_death = None  # ObjectRef of its never-ending watch(): ready once it died
        self._extra_gateways: list = []

    @property
    def gateway(self):
        """The actor handle of this node's entry point (for Python handles); if it died,
        its successor's (waiting up to ``SUCCESSOR_WAIT_S`` for it)."""
        gateway = self._current_gateway(wait_s=SUCCESSOR_WAIT_S)
        return gateway.handle if gateway else None

    @property
    def port(self) -> int | None:
        gateway = self._current_gateway()
        return gateway.port if gateway else None

    @property
    def url(self) -> str:
        """This node's entry point (the same while its gateway is replaced: the successor
        binds the dead one's port)."""
        gateway = self._current_gateway()
        assert gateway is not None, "the platform has not started"
        return gateway.url

    def gateways(self) -> dict[str, GatewayInfo]:
        """Node id → that node's entry point, for every node of the cluster."""
        return ray.get(self._controller.gateways.remote())

    def start(self, *, detached: bool = False, node_id: str | None = None) -> "Platform":
        """Start the controller (on ``node_id``, default this node), which starts the quota
        ledger and a gateway on every node. ``detached`` platforms outlive the process that
        started them (the Serve keeper's replica, which Serve may restart) until ``stop()``."""
        self._init_ray()
        ensure_serve_started()
        try:
            ray.get_actor(CONTROLLER_NAME, namespace=NAMESPACE)
        except ValueError:
            pass
        else:
            raise PlatformAlreadyRunning("a serverless-ray controller is already running on this Ray cluster")
        node = node_id or ray.get_runtime_context().get_node_id()
        self._controller = PlatformController.options(
            name=CONTROLLER_NAME, namespace=NAMESPACE, lifetime="detached" if detached else None,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
        ).remote(self.settings)
        ray.get(self._controller.start.remote())
        self._find_own_gateway(wait_s=GATEWAY_WAIT_S)
        log.info("serverless-ray listening on %s", self.url)
        return self

    @classmethod
    def attach(cls) -> "Platform":
        """The platform already running on the connected Ray cluster (``ValueError`` if none)."""
        controller = ray.get_actor(CONTROLLER_NAME, namespace=NAMESPACE)
        platform = cls(ray.get(controller.settings.remote()))
        platform._controller = controller
        platform._find_own_gateway()
        return platform

    def _init_ray(self) -> None:
        if not ray.is_initialized():
            self._owns_ray = True
            # Read by Serve's controller when it starts, inherited from this process.
            os.environ.setdefault(
                "RAY_SERVE_CONTROL_LOOP_INTERVAL_S", str(self.settings.serve_control_loop_interval_s)
            )
            if self.settings.ray_address is None:
                # The embedded cluster's runtime environment agents build framework environments
                # over the platform's packages instead of copying them (serverless_ray.environments).
                environments.register()
            ray.init(
                # "local": an embedded cluster of our own, even if `ray start` ran on this machine.
                address=self.settings.ray_address or "local",
                num_cpus=self.settings.num_cpus if self.settings.ray_address is None else None,
                include_dashboard=False,
                namespace=NAMESPACE,
            )

    def _find_own_gateway(self, wait_s: float = 0.0) -> None:
        """This node's gateway, else any; waits up to ``wait_s`` for the controller's fleet
        to bring one up (a gateway that missed its start deadline is started again)."""
        here = ray.get_runtime_context().get_node_id()
        deadline = time.monotonic() + wait_s
        while True:
            gateways = self.gateways()
            # A process on a node that joined a moment ago uses another node's gateway until its own is up.
            found = gateways.get(here) or next(iter(gateways.values()), None)
            if found is not None:
                self._use(found)
                return
            if time.monotonic() >= deadline:
                raise RuntimeError(f"the platform has no running gateway (waited {wait_s:.0f} s for one)")
            time.sleep(0.5)

    def _use(self, gateway: GatewayInfo) -> None:
        self._gateway = gateway
        # One call that never returns, outstanding while the gateway lives: Ray fails it
        # when the gateway dies, and a look at it (``ray.wait``, no round trip) says so.
        self._gateway_death = gateway.handle.watch.remote()

    def _current_gateway(self, wait_s: float = 0.0) -> GatewayInfo | None:
        """The gateway in use; its successor if it died and the fleet has started one
        (waiting up to ``wait_s`` for it)."""
        if self._gateway is None or self._gateway_death is None:
            return self._gateway
        if ray.wait([self._gateway_death], timeout=0)[0]:
            self._follow_successor(wait_s)
        return self._gateway

    def _follow_successor(self, wait_s: float) -> None:
        """Switch to the gateway the fleet started on the dead one's node; if none after
        ``wait_s``, to another node's when waiting was asked for, else keep the dead one's
        (its successor will listen on the same port) and look again next time."""
        dead = self._gateway
        assert dead is not None
        deadline = time.monotonic() + wait_s
        while True:
            try:
                gateways = ray.get(self._controller.gateways.remote(), timeout=PING_TIMEOUT_S)
            except (ray.exceptions.GetTimeoutError, ray.exceptions.RayActorError):
                gateways = {}  # the controller is restarting
            successor = gateways.get(dead.node_id)
            if successor is not None and successor.gateway_id != dead.gateway_id:
                log.info("this node's gateway %s died; following its successor %s on %s",
                         dead.gateway_id, successor.gateway_id, successor.url)
                self._use(successor)
                return
            if time.monotonic() >= deadline:
                others = [g for g in gateways.values() if g.gateway_id != dead.gateway_id]
                if wait_s > 0 and others:
                    self._use(others[0])
                return
            time.sleep(0.2)

    def add_gateway(self, gateway_id: str, *, node_id: str | None = None, port: int | None = None,
                    settings: PlatformSettings | None = None, **settings_changes):
        """Start another entry point (on ``node_id``, default this node), owned by this
        process; returns (handle, port). Every node already has one; this is for tests.
        ``settings`` (default: the platform's) may differ in what a gateway reads, such as
        its credentials or TLS files; ``settings_changes`` are applied on top of them
        (e.g. a shorter invocation timeout)."""
        node = node_id or ray.get_runtime_context().get_node_id()
        changes = {**settings_changes, **({} if port is None else {"port": port})}
        settings = settings or self.settings
        if changes:
            settings = settings.model_copy(update=changes)
        ledger = ray.get(self._controller.ledger.remote())
        gateway = Gateway.options(
            name=f"{GATEWAY_NAME_PREFIX}{gateway_id}", namespace=NAMESPACE,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
        ).remote(settings, gateway_id, self._controller, ledger)
        bound = ray.get(gateway.start.remote(reuse_port=settings.port != 0))
        self._extra_gateways.append(gateway)
        return gateway, bound

    def controller_pid(self) -> int:
        """The controller's process id (Ray restarts it in a new process if it dies)."""
        return ray.get(self._controller.pid.remote())

    def unavailable(self, timeout_s: float = PING_TIMEOUT_S) -> dict[str, Probed]:
        """The controller and the quota ledger → whether each answers now: why not, or the
        process that answered. For :class:`~serverless_ray.platform_watch.PlatformWatch`."""
        state: dict[str, Probed] = {}
        pings = {"controller": lambda: self._controller}
        pings["quota ledger"] = lambda: ray.get_actor(QUOTA_LEDGER_NAME, namespace=NAMESPACE)
        for name, handle_of in pings.items():
            try:
                pid = ray.get(handle_of().ping.remote(), timeout=timeout_s)
            except ray.exceptions.GetTimeoutError:
                state[name] = Probed(down=f"no answer within {timeout_s:.0f} s (restarting, or busy)")
            except ValueError:
                state[name] = Probed(down="not found on the cluster")
            except ray.exceptions.RayError as exc:
                state[name] = Probed(down=type(exc).__name__)
            else:
                state[name] = Probed(pid=pid)
        return state

    def wait_idle(self) -> None:
        """Block until no endpoint lifecycle work is in progress."""
        ray.get(self._controller.wait_idle.remote())

    def stop(self, *, teardown: bool = True) -> None:
        """Stop the entry points, the quota ledger and the controller; the state directory
        keeps everything."""
        for gateway in self._extra_gateways:
            try:
                ray.get(gateway.stop.remote(), timeout=15)
            except Exception:  # already gone (a test may have killed it)
                pass
            ray.kill(gateway)
        self._extra_gateways = []
        self._gateway = self._gateway_death = None
        if self._controller is not None:
            try:
                ray.get(self._controller.shutdown.remote(teardown), timeout=60)
            except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
                pass  # stopped already (`serverless-ray down` from another process), or dying
            finally:
                ray.kill(self._controller, no_restart=True)
                self._controller = None
        # The ledger and the gateways are detached: they outlive whatever did not stop
        # them (a controller that died during its shutdown), so they are ended by name.
        leftovers = end_leftovers([QUOTA_LEDGER_NAME, *fleet_gateway_names()])
        if leftovers:
            log.info("ended the platform's remaining actors: %s", ", ".join(leftovers))
        if self._owns_ray:
            from ray import serve

            serve.shutdown()
            ray.shutdown()
            self._owns_ray = False
