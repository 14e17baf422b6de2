"""The AWS JSON 1.0 endpoint: route, authenticate, parse, validate, dispatch, serialize.

Everything protocol-specific happens here, once, from the models (ARCHITECTURE rule 1);
handlers never see HTTP and never build an envelope.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.model import OperationModel, ServiceModel
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from baryon.api import registry, sigv4
from baryon.api.errors import (
    ApiError,
    InternalServerException,
    SerializationException,
    UnknownOperationException,
    ValidationException,
)
from baryon.api.serialization import OutputShapeError, serialize_output
from baryon.api.service_models import models_by_target_prefix
from baryon.api.validation import parse_input
from baryon.auth.access_keys import SecretResolver
from baryon.observability import context, metrics
from baryon.operations.context import RequestContext
from baryon.runtime import Runtime

log = logging.getLogger("baryon.api")

MAX_BODY_BYTES = 2 * 1024 * 1024
JSON_CONTENT_TYPE = "application/x-amz-json-1.0"


class FrontDoor:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.models = models_by_target_prefix()
        self.secrets = SecretResolver(runtime.db, runtime.box)
        self.max_skew = timedelta(seconds=runtime.settings.max_clock_skew_seconds)

    async def handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        context.request_id.set(request_id)
        started = time.perf_counter()
        call = _Call(request_id)
        try:
            body = await _read_body(request)
            incoming = sigv4.IncomingRequest(
                method=request.method,
                raw_path=request.scope.get("raw_path", b"/").decode("latin-1") or "/",
                query_string=request.scope.get("query_string", b"").decode("latin-1"),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
            )
            # Authentication reads the database: like the handler, it must not block the
            # event loop, so the whole call runs on a worker thread.
            result = await run_in_threadpool(self._process, incoming, call)
            response = _json_response(200, result, request_id)
        except ApiError as error:
            response = _error_response(error, request_id)
        except Exception:
            log.exception("request %s (%s) failed", request_id, call.operation)
            response = _error_response(
                InternalServerException("An internal error occurred. Request id: " + request_id),
                request_id,
            )
        elapsed = time.perf_counter() - started
        code = "OK" if response.status_code == 200 else response.headers["x-amzn-ErrorType"]
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

    def _process(self, incoming: sigv4.IncomingRequest, call: _Call) -> dict[str, Any]:
        model, operation = self._route(incoming.headers.get("x-amz-target"))
        call.operation = operation.name
        context.request_id.set(call.request_id)
        context.operation.set(operation.name)
        try:
            caller = self._authenticate(incoming, model)
        except OperationalError as exc:
            raise _database_unavailable(operation.name, exc) from exc
        params = parse_input(operation.input_shape, _parse_json(incoming.body))
        return self._dispatch(model, operation, params, call.request_id, caller)

    def _route(self, target: str | None) -> tuple[ServiceModel, OperationModel]:
        if not target or "." not in target:
            raise UnknownOperationException("Missing or malformed X-Amz-Target header.")
        prefix, _, name = target.rpartition(".")
        model = self.models.get(prefix)
        if model is None or name not in model.operation_names:
            raise UnknownOperationException(f"Unknown operation {target}.")
        return model, model.operation_model(name)

    def _authenticate(self, incoming: sigv4.IncomingRequest, model: ServiceModel) -> str:
        auth = sigv4.verify(
            incoming,
            region=self.runtime.settings.region,
            services=frozenset({model.signing_name}),
            secret_for=self.secrets,
            max_skew=self.max_skew,
        )
        return auth.access_key_id

    def _dispatch(
        self,
        model: ServiceModel,
        operation: OperationModel,
        params: dict[str, Any],
        request_id: str,
        caller: str,
    ) -> dict[str, Any]:
        handler = registry.handler_for(model.service_name, operation.name)
        if handler is None:
            raise ValidationException(
                f"The operation {operation.name} is not yet available in this Baryon server."
            )
        context = RequestContext(
            runtime=self.runtime,
            operation=operation.name,
            request_id=request_id,
            caller=caller,
            now=datetime.now(UTC),
        )
        try:
            result = handler(context, params)
        except OperationalError as exc:
            raise _database_unavailable(operation.name, exc) from exc
        try:
            return serialize_output(operation.output_shape, result)
        except OutputShapeError as exc:
            log.error("%s returned an invalid response: %s", operation.name, exc)
            raise InternalServerException(
                "An internal error occurred. Request id: " + request_id
            ) from exc


class _Call:
    """What is known about a call as it progresses, for the log line and the metrics."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.operation = "-"


def _database_unavailable(operation: str, exc: Exception) -> InternalServerException:
    # Connection lost, server restarting, lock timeout: clients retry a 5xx by themselves.
    log.warning("database unavailable during %s: %s", operation, exc)
    return InternalServerException(
        "The service is temporarily unable to reach its database; retry shortly."
    )


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise SerializationException(f"The request body exceeds {MAX_BODY_BYTES} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise SerializationException(f"The request body exceeds {MAX_BODY_BYTES} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_json(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SerializationException(f"The request body is not valid JSON: {exc}") from exc


def _json_response(status: int, payload: dict[str, Any], request_id: str) -> Response:
    return Response(
        content=json.dumps(payload, separators=(",", ":")),
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
