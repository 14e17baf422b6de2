"""The ASGI application: the API front door (and, later, the portal) on one port."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import baryon.operations  # noqa: F401  (registers every operation handler)
from baryon.api.front_door import FrontDoor
from baryon.runtime import Runtime


def create_app(runtime: Runtime) -> Starlette:
    front_door = FrontDoor(runtime)

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/_baryon/health", health, methods=["GET"]),
            Route("/{path:path}", front_door.handle, methods=["POST"]),
        ]
    )
