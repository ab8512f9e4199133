"""The HTTP response of InvokeEndpointWithResponseStream: a streamed reply's parts as
event-stream messages, sent as they come.

A failure after the first part is the stream's last message, an exception event. A
client that goes away (seen while a part is awaited, not only when one is sent) closes
the parts: the invocation frees its admission slot and the model's generator is closed.
"""

from __future__ import annotations

import asyncio
import logging

from serverless_ray.errors import ServiceError
from serverless_ray.gateway.eventstream import CONTENT_TYPE, exception_event, payload_part
from serverless_ray.gateway.invocation_types import CUSTOM_ATTRIBUTES, StreamedReply

log = logging.getLogger(__name__)


class EventStreamResponse:
    """An ASGI response over ``reply`` (whose parts it always closes)."""

    def __init__(self, reply: StreamedReply) -> None:
        assert reply.parts is not None
        self._reply = reply
        headers = {
            "content-type": CONTENT_TYPE,
            "X-Amzn-SageMaker-Content-Type": reply.content_type,
            "x-Amzn-Invoked-Production-Variant": reply.variant_name,
            "x-amzn-RequestId": reply.request_id,
        }
        if reply.custom_attributes:
            headers[CUSTOM_ATTRIBUTES] = reply.custom_attributes
        self.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]

    async def __call__(self, scope, receive, send) -> None:
        parts = self._reply.parts
        assert parts is not None
        sending = asyncio.ensure_future(self._send(send))
        listening = asyncio.ensure_future(_disconnect(receive))
        try:
            await asyncio.wait({sending, listening}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Cancelling the sender cancels the part it awaits, inside the invocation:
            # the invocation ends there (slot freed, replica's stream cancelled).
            for task in (sending, listening):
                task.cancel()
            await asyncio.gather(sending, listening, return_exceptions=True)
            await parts.aclose()
        if not sending.cancelled() and sending.exception() is not None:
            log.info("streamed reply %s not delivered: %r", self._reply.request_id, sending.exception())

    async def _send(self, send) -> None:
        parts = self._reply.parts
        assert parts is not None
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        try:
            async for part in parts:
                await send({"type": "http.response.body", "body": payload_part(part), "more_body": True})
        except ServiceError as error:
            event = exception_event(error.code, {"Message": error.message, **error.fields})
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnect(receive) -> None:
    """Returns when the client has gone (the request body was read before)."""
    while (await receive())["type"] != "http.disconnect":
        pass
