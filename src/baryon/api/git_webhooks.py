"""Where forges deliver webhooks: ``POST /_baryon/git/webhooks/<connection name>``.

Connections are regional while the URL names no region: every region with a connection of
that name is asked (operations/repository_events.py), so one URL form serves them all.

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
from baryon.operations.connections import WEBHOOK_PATH
from baryon.operations.repository_events import (
    MAX_WEBHOOK_BODY_BYTES,
    WebhookVerdict,
    webhook_received_in_any_region,
)
from baryon.runtime import Runtime

# A delivery that is not proven to come from the forge is a 401 and changes nothing.
_STATUS = {
    WebhookVerdict.ACCEPTED: 202,
    WebhookVerdict.REFUSED: 401,
    WebhookVerdict.UNKNOWN_CONNECTION: 404,
}


def git_webhook_routes(runtime: Runtime) -> list[Route]:
    limits = BodyLimits.from_settings(runtime.settings, MAX_WEBHOOK_BODY_BYTES)

    async def deliver(request: Request) -> Response:
        name = request.path_params["connection"]
        try:
            async with buffered_body(request, limits, runtime.body_budget) as body:
                answer = await run_in_threadpool(
                    webhook_received_in_any_region, runtime, name, dict(request.headers), body
                )
        except BodyRefused as exc:
            return JSONResponse({"message": str(exc)}, status_code=413)
        return JSONResponse({"message": answer.message}, status_code=_STATUS[answer.verdict])

    return [Route(f"{WEBHOOK_PATH}{{connection}}", deliver, methods=["POST"])]
