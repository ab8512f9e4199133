"""InvokeEndpoint as the gateway's transports hand it to the invocation service, what
comes back, and the hooks that see every invocation.

Transports (HTTP, Python handles) build an :class:`InvocationRequest` and get an
:class:`InvocationReply` (a :class:`StreamedReply` when they stream) or a
:class:`~serverless_ray.errors.ServiceError`. Features that
concern every invocation whatever its transport (authentication, logging, metering)
are :class:`InvocationHook` s, registered once with the service.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import AsyncGenerator

from serverless_ray.errors import ServiceError
from serverless_ray.messages import Route

CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"


def new_request_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class InvocationRequest:
    """One InvokeEndpoint call, as the client made it."""

    endpoint_name: str
    body: bytes
    content_type: str | None = None
    accept: str | None = None
    custom_attributes: str | None = None
    target_variant: str | None = None
    request_id: str = field(default_factory=new_request_id)
    # When the transport received it (the service's clock); None: when the service sees it.
    received_at: float | None = None
    # X-Amzn-SageMaker-Inference-Id: the caller's own name for the request, for its logs.
    inference_id: str | None = None


@dataclass(frozen=True)
class InvocationReply:
    """The model's answer to an invocation that succeeded."""

    body: bytes
    content_type: str
    variant_name: str
    request_id: str
    custom_attributes: str | None = None


@dataclass(frozen=True)
class StreamedReply:
    """The head of a streamed reply (InvokeEndpointWithResponseStream) and its parts.

    Read ``parts`` to its end or ``aclose()`` it: the invocation holds its admission slot
    until then. After the first part, a failure is raised by ``parts`` as a
    :class:`~serverless_ray.errors.ModelStreamError` or
    :class:`~serverless_ray.errors.InternalStreamFailure`.
    """

    content_type: str
    variant_name: str
    request_id: str
    custom_attributes: str | None = None
    parts: AsyncGenerator[bytes, None] | None = None


@dataclass(frozen=True)
class InvocationOutcome:
    """How an invocation ended, for hooks: exactly one of ``reply`` and ``error`` is set.

    A streamed invocation ends with its last part (or its failure, or its client going
    away: a ``StreamBroken`` error); ``parts`` and ``streamed_bytes`` say what was sent.
    """

    request: InvocationRequest
    variant_name: str | None  # None when it ended before a variant was chosen
    duration_s: float
    reply: InvocationReply | StreamedReply | None = None
    error: ServiceError | None = None
    model_seconds: float | None = None  # time inside the model code, if it ran
    cold: bool = False
    standby: bool = False
    parts: int | None = None  # None: not streamed
    streamed_bytes: int = 0
    # ModelSetupTime of the replica start this invocation waited for, if it waited for one.
    setup_seconds: float | None = None
    # Of an endpoint with provisioned concurrency: served by it (True) or spilled over to
    # on-demand replicas (False); None for endpoints without (or before admission).
    provisioned: bool | None = None
    # Log stream of the replica that ran it (``<VariantName>/<replica id>``), if known.
    log_stream: str | None = None
    route: Route | None = None  # the chosen variant's route, once looked up
    dispatched: bool = False  # admitted and sent to a replica (compute was used)

    @property
    def streamed(self) -> bool:
        return self.parts is not None

    @property
    def request_bytes(self) -> int:
        return len(self.request.body)

    @property
    def response_bytes(self) -> int:
        if self.streamed:
            return self.streamed_bytes
        return len(self.reply.body) if isinstance(self.reply, InvocationReply) else 0


class InvocationHook:
    """Sees every invocation of every transport; override what you need.

    ``on_start`` runs before the route is looked up and may refuse the invocation by
    raising a ``ServiceError`` (authentication); ``on_finish`` runs once per invocation
    that started, with its outcome (logging, metering), and must not raise.
    """

    async def on_start(self, request: InvocationRequest) -> None:
        return None

    def on_finish(self, outcome: InvocationOutcome) -> None:
        return None
