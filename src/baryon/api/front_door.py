"""The AWS JSON 1.0 endpoint: route, authenticate, parse, validate, dispatch, serialize.

Everything protocol-specific happens here, once, from the models (ARCHITECTURE rule 1);
handlers never see HTTP and never build an envelope.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from botocore.model import OperationModel, ServiceModel
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from baryon.api import sigv4
from baryon.api.errors import (
    AccessDeniedException,
    ApiError,
    ConflictException,
    InternalServerException,
    RequestTimeoutException,
    ResourceNotFoundException,
    SerializationException,
    ServiceQuotaExceededException,
    ThrottlingException,
    UnknownOperationException,
    UnrecognizedClientException,
    ValidationException,
)
from baryon.api.json_body import decode_json_body
from baryon.api.request_body import (
    BodyBudgetExhausted,
    BodyLimits,
    BodyRefused,
    BodyTimedOut,
    ClientDisconnect,
    buffered_body,
    declared_length,
    declared_too_large,
)
from baryon.api.serialization import OutputShapeError, serialize_output
from baryon.api.validation import parse_input
from baryon.auth import account_access, scoped_access
from baryon.auth.access_keys import StoredKey
from baryon.auth.identities import KeyAndPrincipal, key_and_principal
from baryon.auth.scoped_keys import CallerKeys, is_scoped_key_id
from baryon.observability import context, metrics
from baryon.operations import audit_trail, registry
from baryon.operations.context import RequestContext
from baryon.operations.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    QuotaExceeded,
)
from baryon.runtime import Runtime
from baryon.service_models import models_by_target_prefix
from baryon.service_models.baryon import AuditDoor

log = logging.getLogger("baryon.api")

MAX_BODY_BYTES = 2 * 1024 * 1024
# Bodies up to this size are read with the head, before the signature is checked (_call): as
# much as a request head may hold (modes/http_server.py MAX_REQUEST_HEAD_BYTES), so a client
# refused for its credentials made the server hold no more than its head could have.
BODY_READ_WITH_HEAD_BYTES = 16 * 1024
JSON_CONTENT_TYPE = "application/x-amz-json-1.0"


class FrontDoor:
    """Serves every region of ``runtime.cells``: a request goes to the cell of the region its
    credential scope names, as AWS routes it to a region's endpoint. Keys are global (IAM's
    are), so they are read from the home region whichever region answers."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.regions = frozenset(runtime.cells.regions)
        self.models = models_by_target_prefix()
        self.keys = CallerKeys(runtime.identity_db, runtime.box)
        self.signing_names = {
            model.signing_name: frozenset({model.signing_name}) for model in self.models.values()
        }
        self.max_skew = timedelta(seconds=runtime.settings.max_clock_skew_seconds)
        self.body_limits = BodyLimits.from_settings(runtime.settings, MAX_BODY_BYTES)

    async def handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        context.request_id.set(request_id)
        started = time.perf_counter()
        call = _Call(request_id)
        try:
            result = await self._call(request, call)
            response = _json_response(200, result, request_id)
        except ApiError as error:
            response = _error_response(error, request_id)
        except DomainError as error:
            response = _error_response(proton_error(error), request_id)
        except BodyRefused as refused:
            # Not read in full: what is left of it must not be taken for the next request.
            call.close = True
            log.info("request %s (%s): %s", request_id, call.operation, refused)
            response = _error_response(_refusal_error(refused), request_id)
        except ClientDisconnect:
            # Nobody is left to answer; the response below is never sent.
            call.code = "ClientDisconnected"
            log.info("request %s (%s): the client went away mid-upload", request_id, call.operation)
            response = Response(status_code=400)
        except Exception:
            log.exception("request %s (%s) failed", request_id, call.operation)
            response = _error_response(
                InternalServerException("An internal error occurred. Request id: " + request_id),
                request_id,
            )
        if call.close:
            response.headers["connection"] = "close"
        elapsed = time.perf_counter() - started
        code = call.code or (
            "OK" if response.status_code == 200 else response.headers["x-amzn-ErrorType"]
        )
        metrics.requests.labels(call.operation, code).inc()
        metrics.request_seconds.labels(call.operation).observe(elapsed)
        log.info(
            "%s %d %.1fms",
            call.operation,
            response.status_code,
            elapsed * 1000,
            extra={
                "fields": {
                    "operation": call.operation,
                    "status": response.status_code,
                    "ms": round(elapsed * 1000, 1),
                }
            },
        )
        return response

    async def _call(self, request: Request, call: _Call) -> dict[str, Any]:
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            model, operation = self._route(headers.get("x-amz-target"))
            call.operation = operation.name
            context.operation.set(operation.name)
        except ApiError:
            call.close = declared_too_large(request, self.body_limits)
            raise
        declared = declared_length(request)
        if declared is not None and declared <= BODY_READ_WITH_HEAD_BYTES:
            # A body no larger than a request head may hold is read before the signature is
            # checked, so that checking it and running the call take one trip to the thread
            # pool instead of two (each costs the event loop and a thread a hand-over; an
            # SDK's JSON body is a few hundred bytes). It is read against the same deadline
            # and budget as any other.
            async with self._body(request, headers) as incoming:
                return await run_in_threadpool(
                    self._admit_and_process, incoming, model, operation, call
                )
        try:
            # Everything the headers can prove is checked before a byte of a larger body is
            # buffered: an anonymous client cannot make the server hold its upload.
            # The key lookup reads the database: off the event loop, like the handler.
            admission, read = await run_in_threadpool(self._admit, headers, model, operation.name)
        except ApiError:
            call.close = declared_too_large(request, self.body_limits)
            raise
        async with self._body(request, headers) as incoming:
            return await run_in_threadpool(
                self._process, incoming, model, operation, admission, read, call
            )

    @asynccontextmanager
    async def _body(
        self, request: Request, headers: dict[str, str]
    ) -> AsyncIterator[sigv4.IncomingRequest]:
        """The request with its whole body, held within the body budget until the block ends."""
        async with buffered_body(request, self.body_limits, self.runtime.body_budget) as body:
            yield sigv4.IncomingRequest(
                method=request.method,
                raw_path=request.scope.get("raw_path", b"/").decode("latin-1") or "/",
                query_string=request.scope.get("query_string", b"").decode("latin-1"),
                headers=headers,
                body=body,
            )

    def _admit_and_process(
        self,
        incoming: sigv4.IncomingRequest,
        model: ServiceModel,
        operation: OperationModel,
        call: _Call,
    ) -> dict[str, Any]:
        admission, read = self._admit(incoming.headers, model, operation.name)
        return self._process(incoming, model, operation, admission, read, call)

    def _admit(
        self, headers: dict[str, str], model: ServiceModel, operation: str
    ) -> tuple[sigv4.Admission, KeyAndPrincipal | None]:
        """The admission, and the operator's key it names as read with its secret and the
        principal it acts as (None for a scoped key): one query answers the signature check,
        the account check and who the caller is (RequestContext.principal asks no more)."""
        stored: list[KeyAndPrincipal] = []

        def secret_for(access_key_id: str) -> str | None:
            if is_scoped_key_id(access_key_id):
                return self.keys.secret(access_key_id)
            read = key_and_principal(self.runtime.identity_db, self.runtime.box, access_key_id)
            if read is None:
                return None
            stored.append(read)
            return read.key.secret_access_key

        try:
            admission = sigv4.admit(
                headers,
                regions=self.regions,
                services=self.signing_names[model.signing_name],
                secret_for=secret_for,
                max_skew=self.max_skew,
            )
        except OperationalError as exc:
            raise _database_unavailable(operation, exc) from exc
        return admission, stored[0] if stored else None

    def _process(
        self,
        incoming: sigv4.IncomingRequest,
        model: ServiceModel,
        operation: OperationModel,
        admission: sigv4.Admission,
        read: KeyAndPrincipal | None,
        call: _Call,
    ) -> dict[str, Any]:
        context.request_id.set(call.request_id)
        context.operation.set(operation.name)
        authorization = sigv4.verify_signature(incoming, admission)
        caller = authorization.access_key_id
        # admit() let through only regions in runtime.cells.
        cell = self.runtime.cells.get(authorization.region) or self.runtime
        params = parse_input(operation.input_shape, decode_json_body(incoming.body))
        door = audit_trail.api_door(incoming.headers.get("user-agent"))
        stored = read.key if read else None
        request_context = self._context(cell, operation.name, call.request_id, caller, door, read)
        try:
            self._authorize(cell, caller, stored, operation.name, params)
        except AccessDeniedException:
            # Refused before any operation ran: the trail has it as every other denial.
            audit_trail.refused(request_context, model.service_name, operation.name, params)
            raise
        return self._dispatch(model, operation, params, request_context)

    def _authorize(
        self,
        cell: Runtime,
        caller: str,
        stored: StoredKey | None,
        operation: str,
        params: dict[str, Any],
    ) -> None:
        """A key scoped to one resource (a provisioning program's) acts on it alone; an
        operator's key of an environment account acts for that account alone."""
        management = cell.settings.account_id
        if stored is not None:  # an operator's key, read with its secret by _admit
            refused = account_access.account_refusal(
                stored.account_id or management, operation, management
            )
            if refused is not None:
                raise AccessDeniedException(refused)
            return
        holder = self.keys.holder(caller)
        if holder is None:  # revoked or expired since its signature was checked
            raise UnrecognizedClientException(sigv4.INVALID_TOKEN)
        scope = holder.resource_arn
        if scope is not None and not scoped_access.may_call(cell.db, scope, operation, params):
            raise AccessDeniedException(scoped_access.refusal(operation, scope))
        if scope is None:  # cannot be: a key that is not scoped was read by _admit
            refused = account_access.refusal(cell.identity_db, caller, operation, management)
            if refused is not None:
                raise AccessDeniedException(refused)

    def _route(self, target: str | None) -> tuple[ServiceModel, OperationModel]:
        if not target or "." not in target:
            raise UnknownOperationException("Missing or malformed X-Amz-Target header.")
        prefix, _, name = target.rpartition(".")
        model = self.models.get(prefix)
        if model is None or name not in model.operation_names:
            raise UnknownOperationException(f"Unknown operation {target}.")
        return model, model.operation_model(name)

    def _dispatch(
        self,
        model: ServiceModel,
        operation: OperationModel,
        params: dict[str, Any],
        request_context: RequestContext,
    ) -> dict[str, Any]:
        handler = registry.handler_for(model.service_name, operation.name)
        if handler is None:
            raise ValidationException(
                f"The operation {operation.name} is not yet available in this Baryon server."
            )
        try:
            result = handler(request_context, params)
        except OperationalError as exc:
            raise _database_unavailable(operation.name, exc) from exc
        try:
            return serialize_output(operation.output_shape, result)
        except OutputShapeError as exc:
            log.error("%s returned an invalid response: %s", operation.name, exc)
            raise InternalServerException(
                "An internal error occurred. Request id: " + request_context.request_id
            ) from exc

    def _context(
        self,
        cell: Runtime,
        operation: str,
        request_id: str,
        caller: str,
        door: AuditDoor,
        read: KeyAndPrincipal | None,
    ) -> RequestContext:
        """``read``: the key as read by _admit, with its principal and the policy generation
        (None, a scoped key: the context reads the principal when asked). That generation is
        the cell's own only when the cell's database is the identity database."""
        same_database = cell.db is self.runtime.identity_db
        return RequestContext(
            runtime=cell,
            operation=operation,
            request_id=request_id,
            caller=caller,
            now=datetime.now(UTC),
            door=door,
            _principal=read.principal if read else None,
            policy_generation=read.policy_generation if read and same_database else None,
        )


class _Call:
    """What is known about a call as it progresses, for the log line and the metrics."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.operation = "-"
        self.code: str | None = None  # the metric label, when no error code says it
        self.close = False  # the body was not read in full: close after answering


def _database_unavailable(operation: str, exc: Exception) -> InternalServerException:
    # Connection lost, server restarting, lock timeout: clients retry a 5xx by themselves.
    log.warning("database unavailable during %s: %s", operation, exc)
    return InternalServerException(
        "The service is temporarily unable to reach its database; retry shortly."
    )


# The one place a domain error becomes one of Proton's modeled errors; the message goes out
# unchanged (clients and tests compare it), the field path stays on this side of the wire.
_PROTON_ERRORS: dict[type[DomainError], type[ApiError]] = {
    InvalidInput: ValidationException,
    NotFound: ResourceNotFoundException,
    Conflict: ConflictException,
    QuotaExceeded: ServiceQuotaExceededException,
    Forbidden: AccessDeniedException,
}


def proton_error(error: DomainError) -> ApiError:
    """The Proton error that answers ``error``."""
    for kind in type(error).__mro__:
        answer = _PROTON_ERRORS.get(kind)
        if answer is not None:
            return answer(error.message)
    # A DomainError of no known kind is a bug in the domain, not the caller's fault.
    log.error("%s has no Proton error: %s", type(error).__name__, error.message)
    return InternalServerException("An internal error occurred.")


def _refusal_error(refused: BodyRefused) -> ApiError:
    if isinstance(refused, BodyTimedOut):
        return RequestTimeoutException(str(refused))
    if isinstance(refused, BodyBudgetExhausted):
        return ThrottlingException(str(refused))
    return SerializationException(str(refused))


def _json_response(status: int, payload: dict[str, Any], request_id: str) -> Response:
    return Response(
        content=_json_bytes(payload),
        status_code=status,
        media_type=JSON_CONTENT_TYPE,
        headers={"x-amzn-RequestId": request_id},
    )


def _error_response(error: ApiError, request_id: str) -> Response:
    response = _json_response(
        error.status, {"__type": error.code, "message": error.message}, request_id
    )
    response.headers["x-amzn-ErrorType"] = error.code
    return response


def _json_bytes(payload: dict[str, Any]) -> bytes:
    """orjson: a tenth of the standard encoder's time on a page of 50 summaries."""
    try:
        return orjson.dumps(payload)
    except orjson.JSONEncodeError:
        # What orjson refuses and json writes (an integer beyond 64 bits): still an answer.
        return json.dumps(payload, separators=(",", ":")).encode()
