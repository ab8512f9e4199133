"""What a streamed invocation tells its client once parts were sent, and what it counts.

Before the first part a streamed invocation fails exactly as InvokeEndpoint does. After
it the HTTP status is long gone, so a failure becomes the stream's last event: a
``ModelStreamError`` with ``ErrorCode`` ``ModelInvocationTimeExceeded`` (the invocation
timeout passed) or ``StreamBroken`` (the model raised, its replica died, a part was too
large, the client went away), or an ``InternalStreamFailure`` (a bug of the platform).
"""

from __future__ import annotations

from dataclasses import dataclass

from serverless_ray.errors import InternalStreamFailure, ModelError, ModelStreamError, ModelTimedOut, ServiceError

STREAM_BROKEN = "StreamBroken"
TIME_EXCEEDED = "ModelInvocationTimeExceeded"


@dataclass
class StreamTally:
    """Parts and bytes sent so far."""

    parts: int = 0
    bytes: int = 0

    def add(self, part: bytes) -> None:
        self.parts += 1
        self.bytes += len(part)


def stream_error(exc: BaseException, parts: int) -> ServiceError:
    """The error event that ends a stream which failed with ``exc`` after ``parts`` parts."""
    if isinstance(exc, (ModelStreamError, InternalStreamFailure)):
        return exc
    if isinstance(exc, ModelTimedOut):
        return ModelStreamError(
            f"The model did not finish its response within the invocation timeout ({_sent(parts)}).",
            ErrorCode=TIME_EXCEEDED,
        )
    if isinstance(exc, ModelError):
        reason = exc.fields.get("OriginalMessage") or exc.message
        return ModelStreamError(f"The model's stream broke ({_sent(parts)}): {reason}", ErrorCode=STREAM_BROKEN)
    return InternalStreamFailure(f"Internal error while streaming the response: {type(exc).__name__}")


def model_raised(error: str, parts: int) -> ModelStreamError:
    return ModelStreamError(f"The model raised {error} ({_sent(parts)}).", ErrorCode=STREAM_BROKEN)


def part_too_large(size: int, limit: int, parts: int) -> ModelStreamError:
    return ModelStreamError(
        f"The model sent a part of {size} bytes; the limit for serverless endpoints is {limit} bytes per part "
        f"({_sent(parts)}).",
        ErrorCode=STREAM_BROKEN,
    )


def client_gone(parts: int) -> ModelStreamError:
    """How a stream whose client went away ends, for hooks (the client hears nothing)."""
    return ModelStreamError(f"The client closed the stream ({_sent(parts)}).", ErrorCode=STREAM_BROKEN)


def _sent(parts: int) -> str:
    return f"after {parts} part{'' if parts == 1 else 's'}"
