"""The log file of a running `baryon up` (``<data dir>/logs/baryon.log``): what its terminal
shows, kept where `baryon logs` finds it after the terminal is gone."""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

LOG_FILE_NAME = "baryon.log"
CLOUD_LOG_FILE_NAME = "local-cloud.log"
# Bounded: a long-running Baryon keeps at most (1 + backups) x this on disk.
MAX_LOG_BYTES = 10 * 1024 * 1024
LOG_BACKUPS = 3


def attach_log_file(logs_dir: Path) -> Path:
    """Copies every log record to the file too, formatted as the terminal's (text or JSON)."""
    path = logs_dir / LOG_FILE_NAME
    handler = RotatingFileHandler(
        path, maxBytes=MAX_LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
    )
    root = logging.getLogger()
    if root.handlers and root.handlers[0].formatter is not None:
        handler.setFormatter(root.handlers[0].formatter)
    root.addHandler(handler)
    return path


def detach_log_file(path: Path) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, RotatingFileHandler) and Path(handler.baseFilename) == path:
            root.removeHandler(handler)
            handler.close()
