"""A local cloud holding the aftermath of a Proton account, and its export, once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from baryon.cloud.process import LocalCloudProcess
from tests.support.proton_aftermath import Aftermath, make_aftermath
from tests.support.samples import SAMPLES


@pytest.fixture(scope="session")
def proton_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloudProcess]:
    logs = tmp_path_factory.mktemp("import-cloud")
    cloud = LocalCloudProcess(state_file=None, log_file=Path(logs) / "cloud.log")
    cloud.start()
    yield cloud
    cloud.stop()


@pytest.fixture(scope="session")
def cloudformation(proton_cloud: LocalCloudProcess) -> Any:
    return boto3.client(
        "cloudformation",
        endpoint_url=proton_cloud.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "max_attempts": 2}, read_timeout=60),
    )


@pytest.fixture(scope="session")
def aftermath(cloudformation: Any, tmp_path_factory: pytest.TempPathFactory) -> Aftermath:
    if not SAMPLES.is_dir():
        pytest.skip("../shared/samples is not beside this checkout")
    return make_aftermath(cloudformation, tmp_path_factory.mktemp("aftermath") / "export")
