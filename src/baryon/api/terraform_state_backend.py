"""Terraform's HTTP state backend, served by Baryon for the Terraform runs it starts.

A run's generated backend block points here (provisioners/terraform.py):

- ``GET  /_baryon/terraform/state/<resource ARN>``: the latest state; 204 when none yet.
- ``POST /_baryon/terraform/state/<resource ARN>?ID=<lock id>``: a new version, kept only if
  the writer holds the lock (or nobody does and it sent no lock id); else 423 Locked.
- ``POST /_baryon/terraform/lock/<resource ARN>?holder=<deployment id>`` with Terraform's lock
  info: 200 when taken, 423 Locked with the holder's lock info when held.
- ``POST /_baryon/terraform/unlock/<resource ARN>`` with the lock info: 200 when released.

Callers authenticate with HTTP basic auth (Terraform's ``username``/``password``, given to runs
as ``TF_HTTP_USERNAME``/``TF_HTTP_PASSWORD``): a short-lived access key scoped to the one
resource whose state it names; any other key is refused 403.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Protocol
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from baryon.api.request_body import BodyLimits, BodyRefused, buffered_body
from baryon.operations.terraform_state import (
    InvalidLockInfo,
    LockAnswer,
    LockOutcome,
    UnlockAnswer,
    UnlockOutcome,
    WriteAnswer,
    WriteOutcome,
)
from baryon.runtime import Runtime

PREFIX = "/_baryon/terraform"
# Terraform state of a few hundred resources is a few MiB; this is far above any bundle's.
MAX_STATE_BYTES = 64 * 1024 * 1024

# (access key id, secret) -> the resource ARN the key may act on; None when the pair does not
# authenticate or the key is not scoped to one resource.
ScopedKeyCheck = Callable[[str, str], str | None]


class StateStore(Protocol):
    """What the backend uses of TerraformStates (one region's, or one per region by ARN)."""

    def read(self, resource_arn: str) -> str | None: ...

    def write(self, resource_arn: str, state: str, lock_id: str | None) -> WriteAnswer: ...

    def lock(self, resource_arn: str, info: str, holder: str) -> LockAnswer: ...

    def unlock(self, resource_arn: str, info: str) -> UnlockAnswer: ...


_JSON = "application/json"


def terraform_state_routes(
    runtime: Runtime, states: StateStore, key_check: ScopedKeyCheck
) -> list[BaseRoute]:
    """The backend's routes, for the composition root to mount ahead of the API's catch-all."""
    limits = BodyLimits.from_settings(runtime.settings, MAX_STATE_BYTES)

    async def authorized(request: Request) -> str | Response:
        arn = unquote(request.path_params["arn"])
        credentials = _basic_credentials(request)
        if credentials is None:
            return Response(
                "Baryon's Terraform state needs a resource's access key (HTTP basic auth).",
                status_code=401,
                headers={"WWW-Authenticate": 'Basic realm="baryon-terraform-state"'},
            )
        allowed = await run_in_threadpool(key_check, *credentials)
        if allowed != arn:
            return Response(f"This access key may not use the state of {arn}.", status_code=403)
        return arn

    async def body_of(request: Request) -> bytes | Response:
        try:
            async with buffered_body(request, limits, runtime.body_budget) as body:
                return body
        except BodyRefused as exc:
            return Response(str(exc), status_code=413)

    async def state(request: Request) -> Response:
        arn = await authorized(request)
        if isinstance(arn, Response):
            return arn
        if request.method == "GET":
            text = await run_in_threadpool(states.read, arn)
            if text is None:
                return Response(status_code=204)
            return Response(text, media_type=_JSON)
        body = await body_of(request)
        if isinstance(body, Response):
            return body
        lock_id = request.query_params.get("ID") or None
        answer = await run_in_threadpool(states.write, arn, body.decode(), lock_id)
        if answer.outcome == WriteOutcome.WRITTEN:
            return Response(status_code=200)
        return _locked(answer.info or "{}")

    async def lock(request: Request) -> Response:
        arn = await authorized(request)
        if isinstance(arn, Response):
            return arn
        body = await body_of(request)
        if isinstance(body, Response):
            return body
        holder = request.query_params.get("holder", "")
        try:
            answer = await run_in_threadpool(states.lock, arn, body.decode(), holder)
        except InvalidLockInfo as exc:
            return Response(str(exc), status_code=400)
        if answer.outcome == LockOutcome.ACQUIRED:
            return Response(status_code=200)
        return _locked(answer.info)

    async def unlock(request: Request) -> Response:
        arn = await authorized(request)
        if isinstance(arn, Response):
            return arn
        body = await body_of(request)
        if isinstance(body, Response):
            return body
        try:
            answer = await run_in_threadpool(states.unlock, arn, body.decode())
        except InvalidLockInfo as exc:
            return Response(str(exc), status_code=400)
        if answer.outcome == UnlockOutcome.HELD_BY_OTHER:
            return _locked(answer.info or "{}")
        # Unlocking what is not locked is done already (a retried unlock after a crash).
        return Response(status_code=200)

    return [
        Route(f"{PREFIX}/state/{{arn:path}}", state, methods=["GET", "POST"]),
        Route(f"{PREFIX}/lock/{{arn:path}}", lock, methods=["POST"]),
        Route(f"{PREFIX}/unlock/{{arn:path}}", unlock, methods=["POST"]),
    ]


def _locked(info: str) -> Response:
    # Terraform reads a 423's body as the holder's lock info and prints it.
    return Response(info, status_code=423, media_type=_JSON)


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    key_id, separator, secret = decoded.partition(":")
    return (key_id, secret) if separator and key_id else None
