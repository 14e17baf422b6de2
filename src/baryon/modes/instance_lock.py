"""The claim a running ``baryon up`` holds on its data directory, and what it tells others.

The claim is an flock on ``<data dir>/baryon.lock``, held for the life of the process: the
kernel drops it however the process ends, so a crash leaves no stale claim to clean up. Beside
it, ``<data dir>/instance.json`` says who holds it (pid, endpoints, region, start, state); it
means something only while the lock is held, which is how ``baryon status`` tells a running
Baryon from the record a killed one left behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path

from baryon.modes.startup_errors import AlreadyRunning, DataDirUnusable

LOCK_NAME = "baryon.lock"
RECORD_NAME = "instance.json"
# The record is a few hundred bytes; a larger file is not ours and is not read whole.
MAX_RECORD_BYTES = 64 * 1024
# A reader (`baryon status`) holds a shared lock for an instant; a start waits this long for
# it before it decides that another Baryon holds the directory.
ACQUIRE_PATIENCE_SECONDS = 0.5


class InstanceState(StrEnum):
    # The API may already answer; the local cloud or the workers are still starting.
    STARTING = "starting"
    RUNNING = "running"
    # SIGTERM received: no new requests, jobs in flight finishing.
    STOPPING = "stopping"


@dataclass(frozen=True)
class InstanceRecord:
    pid: int
    data_dir: str
    api_url: str
    cloud_url: str
    region: str
    # Seconds since the epoch.
    started_at: float
    state: InstanceState
    log_file: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> InstanceRecord:
        """Raises ValueError for anything but a record this module wrote."""
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("not an instance record")
        try:
            return cls(
                pid=int(raw["pid"]),
                data_dir=str(raw["data_dir"]),
                api_url=str(raw["api_url"]),
                cloud_url=str(raw["cloud_url"]),
                region=str(raw["region"]),
                started_at=float(raw["started_at"]),
                state=InstanceState(raw["state"]),
                log_file=str(raw["log_file"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not an instance record: {exc}") from exc


class InstanceLock:
    """Held by the running Baryon from its first step to its last."""

    def __init__(self, data_dir: Path, fd: int) -> None:
        self.data_dir = data_dir
        self._fd = fd
        self.record: InstanceRecord | None = None

    @classmethod
    def acquire(cls, data_dir: Path) -> InstanceLock:
        """Claims ``data_dir`` at once, or raises AlreadyRunning naming the holder."""
        path = data_dir / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise DataDirUnusable(
                f"cannot create {path}: {exc.strerror}",
                "give Baryon a data directory it can write (--data-dir or BARYON_DATA_DIR)",
            ) from exc
        deadline = time.monotonic() + ACQUIRE_PATIENCE_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return cls(data_dir, fd)
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                os.close(fd)
                raise _already_running(data_dir) from None

    def publish(self, record: InstanceRecord) -> None:
        """Replaces the record atomically: readers see the old one or the new one."""
        self.record = record
        path = self.data_dir / RECORD_NAME
        temporary = path.with_name(f".{RECORD_NAME}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(record.to_json())
        os.replace(temporary, path)

    def set_state(self, state: InstanceState) -> None:
        if self.record is not None:
            self.publish(replace(self.record, state=state))

    def release(self) -> None:
        """The record goes first, so nobody reads it as current once the lock is free."""
        (self.data_dir / RECORD_NAME).unlink(missing_ok=True)
        os.close(self._fd)


def running_instance(data_dir: Path) -> InstanceRecord | None:
    """The record of the Baryon that holds ``data_dir`` now, or None if none does."""
    try:
        fd = os.open(data_dir / LOCK_NAME, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_record(data_dir)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def is_held(data_dir: Path) -> bool:
    """Whether a Baryon still holds ``data_dir`` (it lets go as the very last thing it does)."""
    try:
        fd = os.open(data_dir / LOCK_NAME, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _read_record(data_dir: Path, patience: float = 2.0) -> InstanceRecord:
    """The holder writes its record right after taking the lock: a reader that comes in
    between waits a moment. A holder that never writes one is not a Baryon this module knows;
    it is still reported, with what is known (its data directory)."""
    path = data_dir / RECORD_NAME
    deadline = time.monotonic() + patience
    while True:
        try:
            with path.open() as handle:
                return InstanceRecord.from_json(handle.read(MAX_RECORD_BYTES))
        except (OSError, ValueError):
            if time.monotonic() > deadline:
                return InstanceRecord(
                    pid=0,
                    data_dir=str(data_dir),
                    api_url="",
                    cloud_url="",
                    region="",
                    started_at=0.0,
                    state=InstanceState.STARTING,
                    log_file="",
                )
            time.sleep(0.05)


def _already_running(data_dir: Path) -> AlreadyRunning:
    holder = _read_record(data_dir)
    who = f"pid {holder.pid}, {holder.api_url}" if holder.pid else "a process"
    return AlreadyRunning(
        f"Baryon already runs on {data_dir} ({who})",
        f"use it, stop it with 'baryon stop --data-dir {data_dir}', "
        "or start another with a different --data-dir",
    )
