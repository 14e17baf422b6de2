"""`baryon up` answers API calls while its local cloud is still restoring: the cloud is held
back here by its state lock (as a predecessor still saving its state holds it), so the order is
certain, not a matter of timing. Until the cloud answers, callers of the cloud wait in its
listen backlog, no env file is written and no worker runs; then all three follow."""

from __future__ import annotations

import fcntl
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.processes import NO_RETRIES, clean_environment

BARYON = Path(sys.executable).parent / "baryon"


class Lines:
    """A child's stdout, line by line, with a deadline for each wait."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert process.stdout is not None
        stream = process.stdout
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self._lines.put(line)

    def wait_for(self, prefix: str, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if line.startswith(prefix):
                return line.rstrip("\n")
        raise AssertionError(f"no line starting {prefix!r}; saw:\n{''.join(self.seen)}")


@pytest.fixture
def held_cloud_state(tmp_path: Path) -> Iterator[tuple[Path, Any]]:
    """A data directory whose local cloud state lock someone else holds."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    fd = os.open(data_dir / "local-cloud.state.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    released = threading.Event()

    def release() -> None:
        if not released.is_set():
            released.set()
            os.close(fd)

    yield data_dir, release
    release()


def test_the_api_answers_while_the_local_cloud_restores(
    held_cloud_state: tuple[Path, Any],
) -> None:
    data_dir, release_cloud = held_cloud_state
    process = subprocess.Popen(
        [str(BARYON), "up", "--port", "0", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=clean_environment(),
    )
    try:
        lines = Lines(process)
        assert lines.wait_for("starting the local cloud") == "starting the local cloud..."
        answering = lines.wait_for("API answering at ")
        api_url = answering.removeprefix("API answering at ").split(";")[0]
        record = json.loads((data_dir / "instance.json").read_text())
        assert record["state"] == "starting" and record["api_url"] == api_url

        key = _new_key(data_dir)
        proton = _client("proton", api_url, key)
        assert proton.list_environment_templates()["templates"] == []
        proton.create_environment_template(name="made-while-restoring")
        proton.create_environment_template_version(
            templateName="made-while-restoring",
            source={"s3": {"bucket": "baryon-bundles-123456789012", "key": "absent.tar.gz"}},
        )
        assert not (data_dir / "env").exists()  # written once the cloud answers
        # Its registration job waits: no worker claims a job before the cloud answers.
        jobs = _status(data_dir)
        assert (jobs["state"], jobs["jobsRunning"], jobs["jobsDue"]) == ("starting", 0, 1)

        # A caller of the cloud is not refused: it waits in the backlog for the restore.
        s3 = _client("s3", record["cloud_url"], ("any", "key"))
        listed: list[Any] = []
        caller = threading.Thread(target=lambda: listed.append(s3.list_buckets()), daemon=True)
        caller.start()
        caller.join(1.0)
        assert caller.is_alive() and not listed  # the cloud cannot answer: its lock is held

        release_cloud()
        lines.wait_for("Baryon is running on ")
        caller.join(60)
        assert listed and listed[0]["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert (data_dir / "env").exists()
        # The env file comes after the bundle bucket: a client that sources it finds it.
        names = [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]
        assert names == ["baryon-bundles-123456789012"]
        assert json.loads((data_dir / "instance.json").read_text())["state"] == "running"
        assert proton.get_environment_template(name="made-while-restoring")
        # Then the workers take it (the bundle is not there: registration fails, as it must).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            version = proton.get_environment_template_version(
                templateName="made-while-restoring", majorVersion="1", minorVersion="0"
            )["environmentTemplateVersion"]
            if version["status"] != "REGISTRATION_IN_PROGRESS":
                break
            time.sleep(0.2)
        assert version["status"] == "REGISTRATION_FAILED", version
    finally:
        process.terminate()
        process.wait(60)


def _status(data_dir: Path) -> dict[str, Any]:
    done = subprocess.run(
        [str(BARYON), "status", "--data-dir", str(data_dir), "--output", "json"],
        capture_output=True,
        text=True,
        env=clean_environment(),
        timeout=60,
    )
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def _new_key(data_dir: Path) -> tuple[str, str]:
    created = subprocess.run(
        [str(BARYON), "keys", "create", "--data-dir", str(data_dir), "--output", "json"],
        capture_output=True,
        text=True,
        env=clean_environment(),
        timeout=60,
        check=True,
    )
    key = json.loads(created.stdout)
    return key["accessKeyId"], key["secretAccessKey"]


def _client(service: str, endpoint: str, key: tuple[str, str]) -> Any:
    import botocore.session

    from baryon.service_models import MODELS_DIR

    core = botocore.session.get_session()
    core.get_component("data_loader").search_paths.append(str(MODELS_DIR))
    return boto3.session.Session(botocore_session=core).client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        config=NO_RETRIES,
    )
