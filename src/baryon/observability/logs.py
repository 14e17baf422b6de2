"""Structured logs: one JSON object per line, with the ids of what is being handled.

Log collectors (Loki, CloudWatch, Elasticsearch) index JSON fields, so an operator can pull
every line of one request or one deployment across all servers and workers.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from baryon.observability import context

_CONTEXT_FIELDS = {
    "request_id": context.request_id,
    "operation": context.operation,
    "deployment_id": context.deployment_id,
    "job_id": context.job_id,
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, variable in _CONTEXT_FIELDS.items():
            value = variable.get()
            if value is not None:
                entry[name] = value
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(extra)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """For a person at a terminal: the same facts, one readable line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = [f"{name}={variable.get()}" for name, variable in _CONTEXT_FIELDS.items()
               if variable.get() is not None]
        return f"{line} [{' '.join(ids)}]" if ids else line


def configure_logging(level: str, log_format: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
