"""What travels between the platform's processes.

Routes go from the controller to every gateway; a :class:`ReplicaSpec` (with the
:class:`ReplicaLimits` and :class:`ArtifactPolicy` the replica is held to) from the
controller to the replicas it starts (and, inside a route, to the standbys that adopt a
cold endpoint's model); a :class:`ReplicaCall` from a gateway to a replica and a
:class:`ReplicaReply` back, or, for a streamed reply, a :class:`ReplicaReply` whose result
has no body (the head), the parts as ``bytes`` and a :class:`StreamEnd`. A leaf module: plain frozen dataclasses, no imports of the
package, so each side can read them without loading the other side's code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ERROR_CONTENT_TYPE = "text/plain; charset=utf-8"
_MIB = 1024 * 1024


@dataclass(frozen=True)
class ReplicaLimits:
    """What one replica is held to: its tier, its disk, its load deadline (see
    :mod:`serverless_ray.isolation`). Built by the control plane for each variant.

    ``runtime_dir`` is the node-local directory under which each confined replica keeps
    its record and scratch disk (the same path on every node). ``isolation``: ``auto``
    holds memory and CPU in a cgroup where the node allows it, else with an address-space
    rlimit; ``rlimit`` always uses the rlimit; ``off`` records usage only (no memory or
    CPU limit, no cap on the scratch directory).
    """

    memory_mb: int
    cpus: float
    ephemeral_storage_mb: int
    model_ready_timeout_s: float
    runtime_dir: str
    isolation: str = "auto"

    @property
    def enforced(self) -> bool:
        return self.isolation != "off"

    @property
    def memory_bytes(self) -> int:
        return self.memory_mb * _MIB

    @property
    def storage_bytes(self) -> int:
        return self.ephemeral_storage_mb * _MIB


@dataclass(frozen=True)
class ArtifactPolicy:
    """Bounds on model data (``--max-model-size-mb``, ``--artifact-cache-mb``); None: unbounded."""

    max_unpacked_bytes: int | None = None
    cache_bytes: int | None = None


@dataclass(frozen=True)
class ReplicaSpec:
    """What a replica needs to load its model; built by the control plane."""

    endpoint_name: str
    variant_name: str
    model_data_url: str | None
    cache_dir: str
    environment: dict[str, str] = field(default_factory=dict)
    # The model's container image URI: a recognised framework container decides how the
    # model is served (see serverless_ray.runtime.stacks); None or any other image: its
    # inference script.
    image: str | None = None
    # What the replica is held to (None: no limits, e.g. in-process tests).
    limits: ReplicaLimits | None = None
    artifact_policy: ArtifactPolicy | None = None
    # Whether the replica's output goes to the endpoint's log group (the platform's
    # ``observability`` setting).
    capture_logs: bool = True


@dataclass(frozen=True)
class VariantRoute:
    """One production variant of an instance-based endpoint and its share of traffic."""

    variant_name: str
    app_name: str
    weight: float


@dataclass(frozen=True)
class Route:
    """Where invocations of one endpoint go.

    ``app_name`` is None while the endpoint is still being created: its invocations are
    answered with ModelNotReadyException rather than queued. ``serverless`` is False for
    instance-based endpoints, which do not draw on the serverless concurrency pool; their
    ``variants`` split traffic by weight (``variant_name``/``app_name`` name the first).
    """

    endpoint_name: str
    variant_name: str
    app_name: str | None
    max_concurrency: int
    provisioned_concurrency: int = 0
    serverless: bool = True
    variants: tuple[VariantRoute, ...] = ()
    # What a standby loads to answer a cold invocation (serverless endpoints only).
    replica: ReplicaSpec | None = None
    # MemorySizeInMB of a serverless variant (0 for instance-based ones): what it is billed at.
    memory_size_mb: int = 0
    # The model's own SAGEMAKER_MODEL_SERVER_TIMEOUT (serverless variants): an invocation
    # gets the shorter of it and the platform's invocation timeout.
    model_timeout_s: float | None = None

    def timeout_s(self, platform_timeout_s: float) -> float:
        """How long one invocation of this endpoint may take."""
        return min(platform_timeout_s, self.model_timeout_s or platform_timeout_s)

    def targets(self) -> list[tuple[str, str]]:
        """``(variant name, Serve application)`` of every variant that serves traffic now."""
        if self.variants:
            return [(v.variant_name, v.app_name) for v in self.variants]
        return [(self.variant_name, self.app_name)] if self.app_name else []


@dataclass(frozen=True)
class ReplicaCall:
    """One invocation as it travels to a replica (a Serve replica or an adopted standby)."""

    body: bytes
    content_type: str | None
    accept: str | None
    custom_attributes: str | None
    request_id: str | None
    sent_at: float  # wall-clock time the entry point sent it: tells cold calls from warm ones

    def args(self) -> tuple:
        return (self.body, self.content_type, self.accept, self.custom_attributes, self.request_id, self.sent_at)


@dataclass(frozen=True)
class InvocationResult:
    """Outcome of one invocation, ready to be turned into an HTTP response."""

    status: int
    body: bytes
    content_type: str
    custom_attributes: str | None = None
    # The exception type behind an error result (e.g. "MemoryError"), for the replica.
    raised: str | None = None

    @property
    def ok(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300

    @classmethod
    def error(cls, status: int, message: str, *, raised: str | None = None) -> InvocationResult:
        """A plain-text error result."""
        return cls(status, message.encode("utf-8"), ERROR_CONTENT_TYPE, raised=raised)


@dataclass(frozen=True)
class ReplicaReply:
    """An invocation's result plus the timings the platform reports as metrics."""

    result: InvocationResult
    model_seconds: float
    # Set on the first invocation that waited for this replica to start: how long the
    # replica took to fetch and load its model (one ModelSetupTime sample per start).
    setup_seconds: float | None = None
    # The invocation waited for a replica to start (a cold start).
    cold: bool = False
    # Answered by a standby that adopted the model (the endpoint had no running replica).
    standby: bool = False
    # The log stream of the replica that answered (``<VariantName>/<replica id>``).
    log_stream: str | None = None


@dataclass(frozen=True)
class StreamEnd:
    """Last item of a streamed reply: the time in the model up to its last part, and what
    it raised if it failed after its first part."""

    model_seconds: float
    error: str | None = None


class NotAdoptable(Exception):
    """A standby's answer: the model cannot run in it (it needs a runtime environment of its own)."""


@dataclass(frozen=True)
class MetricDatum:
    """One metric's statistic set over one second, as a gateway (or the controller)
    recorded it; ``aggregate`` is :meth:`serverless_ray.observability.aggregate.Aggregate.to_data`."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    unit: str
    timestamp: int  # the second it covers, epoch seconds
    aggregate: list


@dataclass(frozen=True)
class LogLine:
    """One line a replica (or the platform) wrote for an endpoint's log group."""

    endpoint_name: str
    stream: str  # the log stream, ``<VariantName>/<replica id>``
    timestamp_ms: int
    message: str
