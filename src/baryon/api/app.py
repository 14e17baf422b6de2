"""The ASGI application: the API front door, health and metrics (and the portal) on one port."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import baryon.operations  # noqa: F401  (registers every operation handler)
from baryon.api.front_door import FrontDoor
from baryon.observability import metrics
from baryon.observability.health import readiness
from baryon.runtime import Runtime


def create_app(runtime: Runtime) -> Starlette:
    front_door = FrontDoor(runtime)
    metrics.watch_queue(runtime.db)

    async def alive(_request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def ready(_request: Request) -> Response:
        ok, reason = await run_in_threadpool(readiness, runtime.db)
        return JSONResponse({"status": "ready" if ok else "unavailable", "reason": reason},
                            status_code=200 if ok else 503)

    async def prometheus(_request: Request) -> Response:
        body = await run_in_threadpool(metrics.exposition)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    return Starlette(
        routes=[
            Route("/healthz", alive, methods=["GET"]),
            Route("/_baryon/health", alive, methods=["GET"]),
            Route("/readyz", ready, methods=["GET"]),
            Route("/metrics", prometheus, methods=["GET"]),
            Route("/{path:path}", front_door.handle, methods=["POST"]),
        ]
    )
