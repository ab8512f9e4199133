"""The one check in the request path: every request but the operators' probes is signed
and authorized before any route sees it.

A plain ASGI middleware (no Starlette ``BaseHTTPMiddleware``, whose task per request
would cost more than the check). It buffers the body (the signature covers it) and
hands the route the same bytes. Refusals are rendered by the app's own error renderer,
so they come out in the protocol of the path like every other error.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serverless_ray.auth.authenticator import Authenticator
from serverless_ray.auth.sigv4 import IncomingRequest
from serverless_ray.errors import ServiceError

# Probes and scrapers reach these without credentials.
OPEN_PATHS = frozenset({"/healthz", "/metrics"})

Refuse = Callable[[Request, ServiceError], Awaitable[Response]]


class RequireSignature:
    """ASGI middleware: SigV4 + IAM policy for every HTTP request outside ``OPEN_PATHS``.
    The principal's name is left in ``request.state.principal``."""

    def __init__(self, app: ASGIApp, *, authenticator: Authenticator, refuse: Refuse) -> None:
        self._app = app
        self._authenticator = authenticator
        self._refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self._app(scope, receive, send)
            return
        request = IncomingRequest.from_asgi(scope)
        try:
            admitted = self._authenticator.admit(request)
            body = await _read_body(receive)
            if body is None:  # the client went away; nobody is left to answer
                return
            authorized = self._authenticator.authorize(admitted, request.with_body(body), scope["path"])
        except ServiceError as error:
            response = await self._refuse(Request(scope), error)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = authorized.principal.name
        await self._app(scope, _replay(body, receive), send)


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None if the client disconnected first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the buffered body first, then whatever the client sends next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
