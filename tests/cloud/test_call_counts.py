"""The local cloud counts the calls it answers, for benchmarks that compare call counts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from baryon.cloud import call_counts
from baryon.cloud.process import LocalCloudProcess
from tests.support.local_cloud import client


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[LocalCloudProcess]:
    process = LocalCloudProcess(state_file=None, log_file=tmp_path / "cloud.log")
    process.start()
    yield process
    process.stop()


def test_each_answered_call_is_counted_by_service_and_action(cloud: LocalCloudProcess) -> None:
    before = call_counts.read(cloud.endpoint)
    cloudformation = client(cloud, "cloudformation")
    cloudformation.list_stacks()
    cloudformation.list_stacks()
    with pytest.raises(ClientError):
        cloudformation.describe_stacks(StackName="no-such-stack")  # an error is a call too
    client(cloud, "s3").list_buckets()

    after = call_counts.read(cloud.endpoint)
    grown = {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key)}
    assert grown == {
        "cloudformation:ListStacks": 2,
        "cloudformation:DescribeStacks": 1,
        "s3:GET": 1,  # REST services are counted by method
    }
