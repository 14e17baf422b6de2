"""The local cloud as Baryon runs it: a real child process, real boto3, state across restarts."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from baryon.cloud.process import LocalCloudProcess
from baryon.cloud.server import SNAPSHOT_INTERVAL
from tests.support.local_cloud import client


def template(with_greeting_output: bool = False) -> str:
    outputs: dict[str, Any] = {
        "BucketName": {"Value": {"Ref": "Bucket"}},
        "ParameterName": {"Value": {"Ref": "Parameter"}},
    }
    if with_greeting_output:
        outputs["Greeting"] = {"Value": {"Ref": "Greeting"}}
    return json.dumps({
        "Parameters": {"Greeting": {"Type": "String"}},
        "Resources": {
            "Bucket": {"Type": "AWS::S3::Bucket"},
            "Parameter": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {
                    "Name": {"Fn::Sub": "/${AWS::StackName}/greeting"},
                    "Type": "String",
                    "Value": {"Ref": "Greeting"},
                },
            },
        },
        "Outputs": outputs,
    })  # fmt: skip


def outputs_of(cloudformation: Any, stack: str) -> tuple[str, dict[str, str]]:
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    values = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    return described["StackStatus"], values


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[LocalCloudProcess]:
    process = LocalCloudProcess(
        state_file=tmp_path / "cloud.state", log_file=tmp_path / "cloud.log"
    )
    yield process
    process.stop()


def test_state_survives_a_restart(cloud: LocalCloudProcess) -> None:
    cloud.start()
    s3 = client(cloud, "s3")
    s3.create_bucket(Bucket="artifacts")
    s3.put_object(Bucket="artifacts", Key="bundle.tar.gz", Body=b"bundle bytes")
    cloudformation = client(cloud, "cloudformation")
    cloudformation.create_stack(
        StackName="env-dev",
        TemplateBody=template(),
        Parameters=[{"ParameterKey": "Greeting", "ParameterValue": "hello"}],
    )
    status, created = outputs_of(cloudformation, "env-dev")
    assert status == "CREATE_COMPLETE"
    assert cloud.stop() == 0
    assert cloud.state_file is not None
    # Readable by `baryon cloud` too, which imports the server instead of running it as main.
    assert b"__main__" not in cloud.state_file.read_bytes()

    cloud.start()
    s3 = client(cloud, "s3")
    body = s3.get_object(Bucket="artifacts", Key="bundle.tar.gz")["Body"].read()
    assert body == b"bundle bytes"
    cloudformation = client(cloud, "cloudformation")
    assert outputs_of(cloudformation, "env-dev") == ("CREATE_COMPLETE", created)
    ssm = client(cloud, "ssm")
    assert ssm.get_parameter(Name="/env-dev/greeting")["Parameter"]["Value"] == "hello"

    cloudformation.update_stack(
        StackName="env-dev",
        TemplateBody=template(with_greeting_output=True),
        Parameters=[{"ParameterKey": "Greeting", "ParameterValue": "bonjour"}],
    )
    status, updated = outputs_of(cloudformation, "env-dev")
    assert (status, updated["Greeting"]) == ("UPDATE_COMPLETE", "bonjour")
    assert ssm.get_parameter(Name="/env-dev/greeting")["Parameter"]["Value"] == "bonjour"

    cloudformation.delete_stack(StackName="env-dev")
    with pytest.raises(ClientError, match="does not exist"):
        cloudformation.describe_stacks(StackName="env-dev")
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert buckets == {"artifacts"}  # the stack's bucket went with the stack


def test_periodic_snapshot_survives_sigkill(cloud: LocalCloudProcess) -> None:
    cloud.start()
    s3 = client(cloud, "s3")
    s3.create_bucket(Bucket="kept")
    s3.put_object(Bucket="kept", Key="k", Body=b"v")
    last_write = time.time_ns()
    assert cloud.state_file is not None and cloud.pid is not None
    deadline = time.monotonic() + SNAPSHOT_INTERVAL * 4
    while not (cloud.state_file.exists() and cloud.state_file.stat().st_mtime_ns > last_write):
        assert time.monotonic() < deadline, "no periodic snapshot was written"
        time.sleep(0.2)
    os.kill(cloud.pid, signal.SIGKILL)
    cloud.stop()

    cloud.start()
    assert client(cloud, "s3").get_object(Bucket="kept", Key="k")["Body"].read() == b"v"


def test_corrupt_state_file_is_moved_aside(cloud: LocalCloudProcess, tmp_path: Path) -> None:
    assert cloud.state_file is not None
    cloud.state_file.write_bytes(b"not a pickle")
    cloud.start()
    assert client(cloud, "s3").list_buckets()["Buckets"] == []
    aside = list(tmp_path.glob("cloud.state.corrupt-*"))
    assert [p.read_bytes() for p in aside] == [b"not a pickle"]
    assert (
        cloud.log_file is not None and "unreadable local cloud state" in cloud.log_file.read_text()
    )


def test_a_child_that_cannot_start_is_reported(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        cloud = LocalCloudProcess(
            port=taken.getsockname()[1], state_file=None, log_file=tmp_path / "cloud.log"
        )
        with pytest.raises(RuntimeError, match="Address already in use"):
            cloud.start()
    assert not cloud.is_running()


PARENT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import boto3
    from baryon.cloud.process import LocalCloudProcess

    cloud = LocalCloudProcess(state_file=Path(sys.argv[1]), log_file=Path(sys.argv[2]))
    cloud.start()
    boto3.client("s3", endpoint_url=cloud.endpoint, region_name="us-east-1",
                 aws_access_key_id="t", aws_secret_access_key="t").create_bucket(Bucket="orphan")
    print(cloud.pid, flush=True)
    time.sleep(600)
""")


def _alive(pid: int) -> bool:
    """True for a running process; a zombie nobody has reaped yet counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_child_exits_when_parent_is_killed(tmp_path: Path) -> None:
    state, log = tmp_path / "cloud.state", tmp_path / "cloud.log"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(state), str(log)], stdout=subprocess.PIPE
    )
    child = 0
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 30
        while _alive(child):
            assert time.monotonic() < deadline, "the local cloud outlived its parent"
            time.sleep(0.1)
    finally:
        parent.kill()
        if child and _alive(child):
            os.kill(child, signal.SIGKILL)

    # It went through the SIGTERM path, so the bucket made just before was saved.
    with LocalCloudProcess(state_file=state, log_file=log) as cloud:
        assert [b["Name"] for b in client(cloud, "s3").list_buckets()["Buckets"]] == ["orphan"]


def test_a_successor_waits_for_the_last_snapshot(tmp_path: Path) -> None:
    """A restarted parent may start a new cloud while the old one is still saving."""
    state = tmp_path / "cloud.state"
    first = LocalCloudProcess(state_file=state, log_file=tmp_path / "first.log")
    second = LocalCloudProcess(state_file=state, log_file=tmp_path / "second.log")
    first.start()
    started: list[BaseException | str] = []
    waiter = threading.Thread(target=lambda: started.append(_start(second)))
    try:
        waiter.start()
        deadline = time.monotonic() + 30
        while "waiting for another local cloud" not in _text(tmp_path / "second.log"):
            assert time.monotonic() < deadline, _text(tmp_path / "second.log")
            time.sleep(0.05)
        client(first, "s3").create_bucket(Bucket="last-words")  # only the final snapshot has it
        assert first.stop() == 0
        waiter.join(60)
        assert started == ["started"]
        assert [b["Name"] for b in client(second, "s3").list_buckets()["Buckets"]] == ["last-words"]
    finally:
        first.stop()
        waiter.join(60)
        second.stop()


def _start(cloud: LocalCloudProcess) -> BaseException | str:
    try:
        cloud.start()
    except BaseException as exc:
        return exc
    return "started"


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""
