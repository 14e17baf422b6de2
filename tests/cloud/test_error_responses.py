"""The local cloud answers an unexpected exception as an AWS error an SDK can read, never as
werkzeug's HTML page, and logs the traceback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from baryon.cloud.process import LocalCloudProcess
from tests.support.local_cloud import client


@pytest.fixture(scope="module")
def log_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("error-cloud") / "cloud.log"


@pytest.fixture(scope="module")
def cloud(log_file: Path) -> Iterator[LocalCloudProcess]:
    process = LocalCloudProcess(state_file=None, log_file=log_file)
    process.start()
    yield process
    process.stop()


def test_a_query_protocol_service_answers_an_xml_internal_failure(
    cloud: LocalCloudProcess, log_file: Path
) -> None:
    # moto raises NotImplementedError for CloudFormation's EstimateTemplateCost.
    with pytest.raises(ClientError) as caught:
        client(cloud, "cloudformation").estimate_template_cost(TemplateBody="{}")
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert response["Error"]["Code"] == "InternalFailure"
    assert response["Error"]["Type"] == "Receiver"
    assert response["Error"]["Message"].startswith("local cloud: NotImplementedError: ")
    assert "Traceback" in log_file.read_text()


def test_a_json_protocol_service_answers_a_json_internal_failure(
    cloud: LocalCloudProcess,
) -> None:
    # moto raises NotImplementedError for SSM's GetOpsSummary.
    with pytest.raises(ClientError) as caught:
        client(cloud, "ssm").get_ops_summary()
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert response["Error"]["Code"] == "InternalFailure"
    assert response["Error"]["Message"].startswith("local cloud: NotImplementedError: ")
    assert "json" in response["ResponseMetadata"]["HTTPHeaders"]["content-type"]
