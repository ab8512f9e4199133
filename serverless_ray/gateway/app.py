"""The entry point's ASGI application."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from serverless_ray.gateway.context import GatewayContext
from serverless_ray.gateway.control_api import aws_json
from serverless_ray.gateway.runtime_api import invoke_endpoint

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


async def healthz(request: Request) -> Response:
    ctx: GatewayContext = request.app.state.ctx
    if not ctx.ready:
        return JSONResponse({"status": "starting"}, status_code=503)
    return JSONResponse({"status": "ok"})


async def metrics(request: Request) -> Response:
    ctx: GatewayContext = request.app.state.ctx
    platform = await ctx.controller.metrics.remote()
    return Response(platform + ctx.metrics.render(), media_type=PROMETHEUS_TEXT)


def build_app(ctx: GatewayContext) -> Starlette:
    app = Starlette(
        routes=[
            Route("/", aws_json, methods=["POST"]),
            Route("/endpoints/{name}/invocations", invoke_endpoint, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ]
    )
    app.state.ctx = ctx
    return app
