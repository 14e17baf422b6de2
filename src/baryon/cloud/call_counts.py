"""How many calls the local cloud answered, by service and action, for benchmarks and tests.

A benchmark compares what Baryon asks of the cloud per deployment with what a direct client
asks (issue 17: "cloud calls per deployment no more than the direct path's plus two"), so the
cloud counts every request it is sent and answers ``GET /_baryon/calls`` with the counts
since it started, as JSON ``{"cloudformation:DescribeStacks": 12, ...}``. Readers take the
difference of two readings; nothing is ever reset, so two readers cannot disturb each other.
"""

from __future__ import annotations

import io
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

PATH = "/_baryon/calls"
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_lock = threading.Lock()
_counts: Counter[str] = Counter()


def count(service: str, action: str) -> None:
    with _lock:
        _counts[f"{service}:{action}"] += 1


def snapshot() -> dict[str, int]:
    with _lock:
        return dict(_counts)


def _service(environ: dict[str, Any]) -> str:
    """The service a SigV4 request is signed for: Credential=KEY/DATE/REGION/SERVICE/..."""
    authorization = str(environ.get("HTTP_AUTHORIZATION", ""))
    _, _, scope = authorization.partition("Credential=")
    parts = scope.split("/", 4)
    return parts[3] if len(parts) > 3 else "?"


def _action(environ: dict[str, Any]) -> str:
    """JSON protocols name the action in X-Amz-Target, the query protocol (CloudFormation,
    IAM, STS) in its form body, read here and handed on intact; REST services (S3) by method."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return str(target).rpartition(".")[2]
    content_type = str(environ.get("CONTENT_TYPE", ""))
    if content_type.startswith("application/x-www-form-urlencoded"):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        for name, value in parse_qsl(body.decode("utf-8", "replace")):
            if name == "Action":
                return value
    for name, value in parse_qsl(str(environ.get("QUERY_STRING", ""))):
        if name == "Action":
            return value
    return str(environ.get("REQUEST_METHOD", "?"))


def answering_counts(app: WSGIApp) -> WSGIApp:
    """Counts each request and hands it to ``app``; answers ``GET /_baryon/calls`` itself.
    moto's own calls to itself (a custom resource invoking a Lambda) count too: they are
    work the cloud does."""

    def counted_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == PATH and environ.get("REQUEST_METHOD") == "GET":
            body = json.dumps(snapshot(), sort_keys=True).encode()
            start_response(
                "200 OK",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        count(_service(environ), _action(environ))
        return app(environ, start_response)

    return counted_app


def read(endpoint: str) -> dict[str, int]:
    """The counts of the local cloud at ``endpoint`` (http://host:port)."""
    import httpx

    answer = httpx.get(f"{endpoint}{PATH}", timeout=10, trust_env=False)
    answer.raise_for_status()
    counts: dict[str, int] = answer.json()
    return counts
