"""Where forges deliver webhooks: ``POST /_baryon/git/webhooks/<connection name>``.

The body is read with the same limits as every request (bounded size, time and shared
buffer budget) and handed, unread, to the application layer, which checks the signature
with the connection's secret before it believes a word of it.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from baryon.api.request_body import BodyLimits, BodyRefused, buffered_body
from baryon.domain.errors import InvalidInput, NotFound
from baryon.git.webhooks import MAX_WEBHOOK_BYTES
from baryon.operations.connections import WEBHOOK_PATH
from baryon.operations.repository_events import webhook_received
from baryon.runtime import Runtime


def git_webhook_routes(runtime: Runtime) -> list[Route]:
    limits = BodyLimits.from_settings(runtime.settings, MAX_WEBHOOK_BYTES)

    async def deliver(request: Request) -> Response:
        name = request.path_params["connection"]
        try:
            async with buffered_body(request, limits, runtime.body_budget) as body:
                answer = await run_in_threadpool(
                    webhook_received, runtime, name, dict(request.headers), body
                )
        except BodyRefused as exc:
            return JSONResponse({"message": str(exc)}, status_code=413)
        except NotFound as exc:
            return JSONResponse({"message": exc.message}, status_code=404)
        except InvalidInput as exc:
            # A delivery that is not proven to come from the forge changes nothing.
            return JSONResponse({"message": exc.message}, status_code=401)
        return JSONResponse({"message": answer.message}, status_code=202)

    return [Route(f"{WEBHOOK_PATH}{{connection}}", deliver, methods=["POST"])]
