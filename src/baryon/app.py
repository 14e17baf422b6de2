"""The ASGI application: the API front door, health, metrics and the portal on one port.

This is the composition root of the HTTP side: it alone knows every front door, so that none
of them imports another (the portal is not the API's to mount).
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

import baryon.operations  # noqa: F401  (registers every operation handler)
from baryon.api.front_door import FrontDoor
from baryon.api.git_webhooks import git_webhook_routes
from baryon.api.terraform_state_backend import terraform_state_routes
from baryon.auth.access_keys import read_secret
from baryon.auth.scoped_keys import CallerKeys
from baryon.git.hosting import HostedRepositories, hosting_app
from baryon.observability import metrics
from baryon.observability.health import readiness
from baryon.operations import portal_users
from baryon.operations.repository_events import hosted_push
from baryon.operations.terraform_state import TerraformStates
from baryon.runtime import Runtime
from baryon.web import urls as portal_urls
from baryon.web.routes import portal_app


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

    async def to_portal(_request: Request) -> Response:
        return RedirectResponse(portal_urls.home(), status_code=307)

    return Starlette(
        routes=[
            Route("/healthz", alive, methods=["GET"]),
            Route("/_baryon/health", alive, methods=["GET"]),
            Route("/readyz", ready, methods=["GET"]),
            Route("/metrics", prometheus, methods=["GET"]),
            # People use the portal; API clients POST to / and never reach it.
            Route("/", to_portal, methods=["GET"]),
            Mount(portal_urls.PREFIX, app=portal_app(runtime)),
            # Terraform runs keep their state here (ahead of the API's catch-all POST).
            *terraform_state_routes(
                runtime,
                TerraformStates(runtime.db, runtime.box),
                CallerKeys(runtime.db, runtime.box).scoped_resource,
            ),
            # Forges' webhooks (ahead of the API's catch-all POST, like the state backend).
            *git_webhook_routes(runtime),
            # Baryon's own git server, embedded mode only (ahead of the catch-all POST).
            *_git_hosting(runtime),
            Route("/{path:path}", front_door.handle, methods=["POST"]),
        ]
    )


def _git_hosting(runtime: Runtime) -> list[Mount]:
    if not runtime.settings.git_hosting:
        return []

    def authenticate(user: str, password: str) -> bool:
        return _git_user_ok(runtime, user, password)

    return [
        Mount(
            "/git",
            app=hosting_app(
                HostedRepositories(runtime.settings.git_hosting_dir),
                authenticate,
                lambda name, updates: hosted_push(runtime, name, updates),
            ),
        )
    ]


def _git_user_ok(runtime: Runtime, user: str, password: str) -> bool:
    """git's Basic credentials: an access key id and its secret, or a portal user and
    password (checked as at sign-in, so failures count towards the user's pause)."""
    secret = read_secret(runtime.db, runtime.box, user)
    if secret is not None:
        return hmac.compare_digest(secret.encode(), password.encode())
    with runtime.db.session(write=True) as session:
        checked = portal_users.sign_in(session, user, password, datetime.now(UTC))
    return checked.user_id is not None
