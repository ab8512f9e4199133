"""Start and stop the whole platform: Ray (embedded or joined), Serve, the controller
and the entry point on this node. Used by ``serverless-ray up`` and by the tests."""

from __future__ import annotations

import logging
import os

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from serverless_ray.control.actor import CONTROLLER_NAME, NAMESPACE, PlatformController
from serverless_ray.control.serve_backend import ensure_serve_started
from serverless_ray.gateway.actor import Gateway
from serverless_ray.quota.ledger_actor import QUOTA_LEDGER_NAME, QuotaLedger
from serverless_ray.settings import PlatformSettings

log = logging.getLogger(__name__)



class PlatformAlreadyRunning(RuntimeError):
    pass


class Platform:
    """A running platform; ``start()`` returns once the entry point answers ``/healthz``."""

    def __init__(self, settings: PlatformSettings) -> None:
        self.settings = settings.model_copy(
            update={
                "state_dir": settings.state_dir.expanduser().resolve(),
                "artifact_cache_dir": settings.artifact_cache_dir.expanduser().resolve(),
            }
        )
        self._owns_ray = False
        self._controller = None
        self._ledger = None
        self._gateway = None
        self._extra_gateways: list = []
        self.port: int | None = None

    @property
    def gateway(self):
        """The actor handle of this node's entry point (for Python handles)."""
        return self._gateway

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    def start(self) -> "Platform":
        if not ray.is_initialized():
            self._owns_ray = True
            # Read by Serve's controller when it starts, inherited from this process.
            os.environ.setdefault(
                "RAY_SERVE_CONTROL_LOOP_INTERVAL_S", str(self.settings.serve_control_loop_interval_s)
            )
            ray.init(
                # "local": an embedded cluster of our own, even if `ray start` ran on this machine.
                address=self.settings.ray_address or "local",
                num_cpus=self.settings.num_cpus if self.settings.ray_address is None else None,
                include_dashboard=False,
                namespace=NAMESPACE,
            )
        ensure_serve_started()
        try:
            ray.get_actor(CONTROLLER_NAME, namespace=NAMESPACE)
        except ValueError:
            pass
        else:
            raise PlatformAlreadyRunning("a serverless-ray controller is already running on this Ray cluster")
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        self._controller = PlatformController.options(
            name=CONTROLLER_NAME, namespace=NAMESPACE, scheduling_strategy=here
        ).remote(self.settings)
        ray.get(self._controller.start.remote())
        self._ledger = QuotaLedger.options(
            name=QUOTA_LEDGER_NAME, namespace=NAMESPACE, scheduling_strategy=here
        ).remote(self.settings.pool)
        self._gateway, self.port = self.add_gateway("head")
        log.info("serverless-ray listening on %s", self.url)
        return self

    def add_gateway(self, gateway_id: str, *, node_id: str | None = None, port: int | None = None):
        """Start another entry point (on ``node_id``, default this node); returns (handle, port).

        Each node of a cluster runs one; on a single host they may share the port.
        """
        node = node_id or ray.get_runtime_context().get_node_id()
        settings = self.settings if port is None else self.settings.model_copy(update={"port": port})
        gateway = Gateway.options(
            name=f"serverless-ray-gateway-{gateway_id}", namespace=NAMESPACE,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
        ).remote(settings, gateway_id)
        bound = ray.get(gateway.start.remote(reuse_port=settings.port != 0))
        if self._gateway is not None:
            self._extra_gateways.append(gateway)
        return gateway, bound

    def wait_idle(self) -> None:
        """Block until no endpoint lifecycle work is in progress."""
        ray.get(self._controller.wait_idle.remote())

    def stop(self, *, teardown: bool = True) -> None:
        """Stop the entry points and the controller; the state directory keeps everything."""
        for gateway in self._extra_gateways:
            try:
                ray.get(gateway.stop.remote(), timeout=15)
            except Exception:  # already gone (a test may have killed it)
                pass
            ray.kill(gateway)
        self._extra_gateways = []
        if self._gateway is not None:
            try:
                ray.get(self._gateway.stop.remote(), timeout=15)
            finally:
                ray.kill(self._gateway)
                self._gateway = None
        if self._ledger is not None:
            ray.kill(self._ledger, no_restart=True)
            self._ledger = None
        if self._controller is not None:
            try:
                ray.get(self._controller.shutdown.remote(teardown), timeout=30)
            finally:
                ray.kill(self._controller)
                self._controller = None
        if self._owns_ray:
            from ray import serve

            serve.shutdown()
            ray.shutdown()
            self._owns_ray = False

