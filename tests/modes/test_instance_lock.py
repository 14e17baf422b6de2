"""The claim `baryon up` holds on its data directory: at most one holder, readers see who
holds it, and a holder killed outright leaves no claim behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from baryon.modes.instance_lock import (
    InstanceLock,
    InstanceRecord,
    InstanceState,
    is_held,
    running_instance,
)
from baryon.modes.startup_errors import AlreadyRunning

HOLDER = """
import sys, time
from pathlib import Path
from baryon.modes.instance_lock import InstanceLock, InstanceRecord, InstanceState
lock = InstanceLock.acquire(Path(sys.argv[1]))
lock.publish(InstanceRecord(pid=1234, data_dir=sys.argv[1], api_url="http://127.0.0.1:1",
    cloud_url="http://127.0.0.1:2", region="us-east-1", started_at=time.time(),
    state=InstanceState.RUNNING, log_file=""))
print("held", flush=True)
time.sleep(600)
"""


def _record(data_dir: Path) -> InstanceRecord:
    return InstanceRecord(
        pid=42,
        data_dir=str(data_dir),
        api_url="http://127.0.0.1:8300",
        cloud_url="http://127.0.0.1:8301",
        region="us-east-1,us-west-2",
        started_at=time.time(),
        state=InstanceState.STARTING,
        log_file=str(data_dir / "logs" / "baryon.log"),
    )


def test_a_second_claim_is_refused_naming_the_holder(tmp_path: Path) -> None:
    lock = InstanceLock.acquire(tmp_path)
    lock.publish(_record(tmp_path))
    try:
        with pytest.raises(AlreadyRunning) as refused:
            InstanceLock.acquire(tmp_path)
        assert "pid 42, http://127.0.0.1:8300" in str(refused.value)
        found = running_instance(tmp_path)
        assert found is not None
        assert (found.pid, found.api_url, found.region, found.state) == (
            42,
            "http://127.0.0.1:8300",
            "us-east-1,us-west-2",
            InstanceState.STARTING,
        )
        lock.set_state(InstanceState.STOPPING)
        assert running_instance(tmp_path).state is InstanceState.STOPPING  # type: ignore[union-attr]
    finally:
        lock.release()
    assert running_instance(tmp_path) is None and not is_held(tmp_path)
    InstanceLock.acquire(tmp_path).release()  # free again


def test_a_holder_killed_outright_leaves_no_claim(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert is_held(tmp_path)
        found = running_instance(tmp_path)
        assert found is not None and found.pid == 1234
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    # The record is still on disk, but nobody holds the lock: it means nothing.
    assert (tmp_path / "instance.json").exists()
    assert running_instance(tmp_path) is None
    InstanceLock.acquire(tmp_path).release()


def test_a_record_that_is_not_ours_is_refused() -> None:
    for text in ("[]", '{"pid": 1}', '{"pid": "x", "state": "running"}'):
        with pytest.raises(ValueError):
            InstanceRecord.from_json(text)
