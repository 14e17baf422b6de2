"""Ids that every log line carries while a request or a deployment is being handled."""

from __future__ import annotations

from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
operation: ContextVar[str | None] = ContextVar("operation", default=None)
deployment_id: ContextVar[str | None] = ContextVar("deployment_id", default=None)
job_id: ContextVar[int | None] = ContextVar("job_id", default=None)
