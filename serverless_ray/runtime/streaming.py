"""Streamed replies in the replica: which results stream, and their parts as bytes.

A ``predict_fn``, ``output_fn`` or ``transform_fn`` that returns an iterator or a
generator, sync or async, streams: each item is a part as soon as it is produced
(``str`` as UTF-8, ``bytes`` as they are, anything else encoded like a whole reply).
Any other result is one part. Empty items are skipped: a part always carries bytes.
InvokeEndpoint joins the parts of a streaming result into one body (:func:`as_bytes`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, AsyncGenerator

from serverless_ray.messages import InvocationResult

from . import codecs

_NOT_STREAMS = (str, bytes, bytearray, memoryview, dict, list, tuple)


def is_stream(value: Any) -> bool:
    """True for a result that streams: a sync or async iterator (generators included)."""
    return not isinstance(value, _NOT_STREAMS) and isinstance(value, (Iterator, AsyncIterator))


def as_bytes(value: Any, content_type: str) -> bytes:
    """A reply body: ``str`` as UTF-8, bytes as they are, a stream's parts joined, anything
    else encoded for ``content_type``."""
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if is_stream(value):
        return b"".join(parts(value, content_type))
    return codecs.encode(value, content_type)


def parts(value: Any, content_type: str) -> Iterator[bytes]:
    """The non-empty parts of a result as bytes; closing this closes the model's generator."""
    if not is_stream(value):
        data = as_bytes(value, content_type)
        if data:
            yield data
        return
    for item in _items(value):
        data = as_bytes(item, content_type)
        if data:
            yield data


def _items(value: Iterator | AsyncIterator) -> Iterator[Any]:
    if not isinstance(value, AsyncIterator):
        yield from value  # closing this generator closes ``value`` if it is a generator
        return
    # An async generator is driven on a loop of its own, one item per step, so the
    # replica reads it like any other iterator (from whichever worker thread asks).
    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                item = loop.run_until_complete(value.__anext__())
            except StopAsyncIteration:
                return
            yield item
    finally:
        aclose = getattr(value, "aclose", None)
        if aclose is not None:
            loop.run_until_complete(aclose())
        loop.close()


def closing_chain(first: bytes | None, rest: Iterator[bytes]) -> Iterator[bytes]:
    """``first`` (if any) then ``rest``; closing it closes ``rest`` wherever it stands."""
    try:
        if first is not None:
            yield first
        yield from rest
    finally:
        close = getattr(rest, "close", None)
        if close is not None:
            close()


@dataclass
class HandlerStream:
    """A streamed reply as the handler produced it: ``result`` is the head (status, content
    type, custom attributes; an error result if the model failed before its first part,
    with no parts then) and ``parts`` the rest, which raises if the model fails later."""

    result: InvocationResult
    parts: Iterator[bytes]


async def drive(items: Iterator[Any]) -> AsyncGenerator[Any, None]:
    """Iterate a blocking iterator from a coroutine, one item per worker-thread step.

    Closing (or cancelling) the async generator closes ``items`` once the step in flight
    has returned: a generator cannot be closed while it runs, and the model's ``finally``
    must run (it may free what the call held).
    """
    loop = asyncio.get_running_loop()
    done = object()
    lock = threading.Lock()  # one step at a time, and close() never during a step

    def step() -> Any:
        with lock:
            return next(items, done)

    def close() -> None:
        with lock:
            close_items = getattr(items, "close", None)
            if close_items is not None:
                close_items()

    pending: asyncio.Future | None = None
    try:
        while True:
            pending = loop.run_in_executor(None, step)
            item = await asyncio.shield(pending)
            pending = None
            if item is done:
                return
            yield item
    finally:
        if pending is not None:
            await asyncio.wait({pending})
            if not pending.cancelled():
                pending.exception()  # retrieved: the caller has gone, nobody else will
        await loop.run_in_executor(None, close)
