"""The ASGI application: the API front door, health, metrics and the portal on one port.

This is the composition root of the HTTP side: it alone knows every front door, so that none
of them imports another (the portal is not the API's to mount).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
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
from baryon.domain.arns import parse_arn
from baryon.git.hosting import HostedRepositories, RefUpdate, hosting_app
from baryon.observability import metrics
from baryon.observability.health import readiness_of_regions
from baryon.operations import portal_users
from baryon.operations.repository_events import hosted_push
from baryon.operations.terraform_state import (
    LockAnswer,
    TerraformStates,
    UnlockAnswer,
    WriteAnswer,
)
from baryon.runtime import Runtime
from baryon.web import urls as portal_urls
from baryon.web.routes import portal_app


def create_app(runtime: Runtime) -> Starlette:
    front_door = FrontDoor(runtime)
    databases = {cell.region: cell.db for cell in runtime.cells}
    metrics.watch_queue(databases)

    async def alive(_request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def ready(_request: Request) -> Response:
        ok, reason = await run_in_threadpool(readiness_of_regions, databases)
        return JSONResponse(
            {"status": "ready" if ok else "unavailable", "reason": reason},
            status_code=200 if ok else 503,
        )

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
            # The README links /portal; the mount below only matches /portal/...
            Route(portal_urls.PREFIX, to_portal, methods=["GET"]),
            Mount(portal_urls.PREFIX, app=portal_app(runtime)),
            # Terraform runs keep their state here (ahead of the API's catch-all POST).
            *terraform_state_routes(
                runtime,
                _RegionalStates(runtime),
                CallerKeys(runtime.identity_db, runtime.box).scoped_resource,
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

    def pushed(name: str, updates: Sequence[RefUpdate]) -> None:
        # A repository may be registered in any region: each one sees the push.
        for cell in runtime.cells:
            hosted_push(cell, name, updates)

    return [
        Mount(
            "/git",
            app=hosting_app(
                HostedRepositories(runtime.settings.git_hosting_dir),
                authenticate,
                pushed,
            ),
        )
    ]


class _RegionalStates:
    """Terraform state lives with its resource, in the region its ARN names (a run's scoped
    key is for that one ARN, so a run reaches its own region's state only)."""

    def __init__(self, runtime: Runtime) -> None:
        self._states = {cell.region: TerraformStates(cell.db, cell.box) for cell in runtime.cells}
        self._home = self._states[runtime.region]

    def _of(self, resource_arn: str) -> TerraformStates:
        parsed = parse_arn(resource_arn)
        return self._states.get(parsed.region, self._home) if parsed else self._home

    def read(self, resource_arn: str) -> str | None:
        return self._of(resource_arn).read(resource_arn)

    def write(self, resource_arn: str, state: str, lock_id: str | None) -> WriteAnswer:
        return self._of(resource_arn).write(resource_arn, state, lock_id)

    def lock(self, resource_arn: str, info: str, holder: str) -> LockAnswer:
        return self._of(resource_arn).lock(resource_arn, info, holder)

    def unlock(self, resource_arn: str, info: str) -> UnlockAnswer:
        return self._of(resource_arn).unlock(resource_arn, info)


def _git_user_ok(runtime: Runtime, user: str, password: str) -> bool:
    """git's Basic credentials: an access key id and its secret, or a portal user and
    password (checked as at sign-in, so failures count towards the user's pause)."""
    secret = read_secret(runtime.identity_db, runtime.box, user)
    if secret is not None:
        return hmac.compare_digest(secret.encode(), password.encode())
    with runtime.identity_db.session(write=True) as session:
        checked = portal_users.sign_in(session, user, password, datetime.now(UTC))
    return checked.user_id is not None
