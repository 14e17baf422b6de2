"""Unexpected exceptions in the local cloud answer as AWS errors, never as an HTML page.

moto's Flask apps turn an exception they did not expect into werkzeug's HTML "500 Internal
Server Error", which an AWS SDK cannot parse: the caller sees a bare status and no reason,
and the traceback is lost among werkzeug's lines. Here each backend app lets the exception
through (`propagating`) and one WSGI wrapper (`answering_errors`) logs the traceback to the
cloud's log and answers the shape the caller's SDK parses: AWS's query-protocol XML
``ErrorResponse``, or the JSON protocols' ``{"__type": ..., "message": ...}``, with the code
``InternalFailure`` and a message that says it was the local cloud.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from xml.sax.saxutils import escape

log = logging.getLogger("baryon.cloud")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
ERROR_CODE = "InternalFailure"
STATUS = "500 Internal Server Error"


class Protocol(StrEnum):
    """How a request's service words its errors (the two families AWS's SDKs parse)."""

    XML = "xml"  # query (CloudFormation, IAM, STS, SNS, SQS's older form) and REST-XML (S3)
    JSON = "json"  # JSON and REST-JSON (SSM, SQS, Lambda, ...)


@dataclass(frozen=True)
class ErrorAnswer:
    content_type: str
    body: bytes


def protocol_of(environ: dict[str, Any]) -> Protocol:
    """JSON-protocol requests name their operation in X-Amz-Target or send a JSON body."""
    content_type = str(environ.get("CONTENT_TYPE", "")).lower()
    if environ.get("HTTP_X_AMZ_TARGET") or "json" in content_type:
        return Protocol.JSON
    return Protocol.XML


def message_for(exc: BaseException) -> str:
    return f"local cloud: {type(exc).__name__}: {exc}"


def error_answer(protocol: Protocol, message: str) -> ErrorAnswer:
    if protocol is Protocol.JSON:
        body = json.dumps({"__type": ERROR_CODE, "message": message})
        return ErrorAnswer("application/x-amz-json-1.1", body.encode())
    xml = (
        "<ErrorResponse><Error><Type>Receiver</Type>"
        f"<Code>{ERROR_CODE}</Code><Message>{escape(message)}</Message>"
        "</Error><RequestId>local-cloud</RequestId></ErrorResponse>"
    )
    return ErrorAnswer("text/xml", xml.encode())


def answering_errors(app: WSGIApp) -> WSGIApp:
    """Wraps the cloud's WSGI app: an exception before the response starts becomes an AWS
    error answer. One raised while a body streams cannot change a status already sent."""

    def answering(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            return app(environ, start_response)
        except Exception as exc:
            log.exception(
                "local cloud: unexpected error answering %s %s",
                environ.get("REQUEST_METHOD"),
                environ.get("PATH_INFO"),
            )
            answer = error_answer(protocol_of(environ), message_for(exc))
            headers = [
                ("Content-Type", answer.content_type),
                ("Content-Length", str(len(answer.body))),
            ]
            # exc_info lets a second start_response replace headers not sent yet.
            start_response(STATUS, headers, sys.exc_info())
            return [answer.body]

    return answering


def propagating(flask_app: Any) -> Any:
    """Has a moto backend (a Flask app) let unexpected exceptions through to the wrapper."""
    flask_app.config["PROPAGATE_EXCEPTIONS"] = True
    return flask_app
