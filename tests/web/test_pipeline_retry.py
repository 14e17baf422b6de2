"""A failed pipeline no longer leaves its service "create failed" for good, against a real
``baryon up``: the pipeline's stack fails in the local cloud (a bucket it creates is taken out
of band), the service is CREATE_FAILED; the bucket is freed, the pipeline's page offers Retry,
the retry is posted from the portal, and the service becomes ACTIVE (as Proton and boto3 see
it, and as the service page says)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.bundles import PIPE_CFN, Registry, service_bundle
from tests.support.deploying import (
    FAST,
    REPO,
    env_spec,
    pipeline_settled,
    publish_environment_template,
    publish_service_template,
    service_spec,
)
from tests.support.processes import BaryonProcess, clean_environment, start_baryon

SUFFIX = uuid.uuid4().hex[:6]
USER, PASSWORD = "pia", "a password long enough"
ENV, SERVICE = f"penv{SUFFIX}", f"psvc{SUFFIX}"
TAKEN = f"{SERVICE}-pipe-taken"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

# The pipeline also creates a bucket whose name the test takes first, so its stack fails.
_PIPE_CFN = PIPE_CFN.replace(
    "Outputs:\n",
    "  Taken:\n    Type: AWS::S3::Bucket\n    Properties:\n"
    "      BucketName: '{{ service.name }}-pipe-taken'\nOutputs:\n",
    1,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaryonProcess]:
    data_dir = tmp_path_factory.mktemp("pipeline-retry")
    process = start_baryon(data_dir, env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.2"})
    try:
        created = subprocess.run(
            [
                sys.executable,
                "-m",
                "baryon.cli.main",
                "users",
                "create",
                USER,
                "--password-stdin",
                "--data-dir",
                str(data_dir),
            ],
            input=PASSWORD + "\n",
            capture_output=True,
            text=True,
            timeout=60,
            env=clean_environment(),
        )
        assert created.returncode == 0, created.stderr
        yield process
    finally:
        process.stop()


def _service_status(proton: Any, *wanted: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        service = proton.get_service(name=SERVICE)["service"]
        if service["status"] in wanted:
            return dict(service)
        assert time.monotonic() < deadline, f"still {service['status']}: {service}"
        time.sleep(0.2)


def _signed_in(server: BaryonProcess) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=server.endpoint, timeout=30)
    form = client.get("/portal/sign-in")
    token = CSRF.search(form.text)
    assert token is not None, form.text
    signed = client.post(
        "/portal/sign-in",
        data={"csrf_token": token.group(1), "name": USER, "password": PASSWORD, "next": "/portal/"},
    )
    assert signed.status_code == 303, signed.text
    page = client.get("/portal/")
    csrf = CSRF.search(page.text)
    assert csrf is not None
    return client, csrf.group(1)


def test_a_failed_pipeline_retried_from_the_portal_makes_its_service_active(
    server: BaryonProcess,
) -> None:
    proton, s3 = server.client("proton"), server.client("s3")
    registry = Registry(proton, s3)
    publish_environment_template(registry, f"pnet{SUFFIX}")
    files = service_bundle()
    files["pipeline_infrastructure/cloudformation.yaml"] = _PIPE_CFN
    publish_service_template(registry, f"papp{SUFFIX}", [(f"pnet{SUFFIX}", "1")], files)
    proton.create_environment(
        name=ENV,
        templateName=f"pnet{SUFFIX}",
        templateMajorVersion="1",
        spec=env_spec(),
        protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
    )
    proton.get_waiter("environment_deployed").wait(name=ENV, WaiterConfig=FAST)

    s3.create_bucket(Bucket=TAKEN)
    proton.create_service(
        name=SERVICE,
        templateName=f"papp{SUFFIX}",
        templateMajorVersion="1",
        spec=service_spec([("web", ENV, None)], pipeline={"dockerfile": "Dockerfile"}),
        **REPO,
    )
    failed = pipeline_settled(proton, SERVICE)
    assert failed["deploymentStatus"] == "FAILED", failed
    assert _service_status(proton, "CREATE_FAILED", "ACTIVE")["status"] == "CREATE_FAILED"

    # The cause is fixed out of band; the pipeline's page offers Retry of the failed one.
    s3.delete_bucket(Bucket=TAKEN)
    client, csrf = _signed_in(server)
    try:
        before = client.get(f"/portal/services/{SERVICE}").text
        assert re.search(r'id="service-status">[^<]*<[^>]*>create failed', before), before
        page = client.get(f"/portal/services/{SERVICE}/pipeline")
        assert page.status_code == 200
        offered = re.search(r'name="deployment" value="([^"]+)"', page.text)
        assert offered is not None and offered.group(1) == failed["lastAttemptedDeploymentId"]
        retried = client.post(
            f"/portal/services/{SERVICE}/pipeline/retry",
            data={"csrf_token": csrf, "deployment": offered.group(1)},
        )
        assert retried.status_code == 303, retried.text

        pipeline = pipeline_settled(proton, SERVICE)
        assert pipeline["deploymentStatus"] == "SUCCEEDED", pipeline
        assert pipeline["lastAttemptedDeploymentId"] != failed["lastAttemptedDeploymentId"]
        service = _service_status(proton, "ACTIVE", "CREATE_FAILED", "UPDATE_FAILED")
        assert service["status"] == "ACTIVE", service
        shown = client.get(f"/portal/services/{SERVICE}").text
        status = re.search(r'id="service-status">(.*?)</dd>', shown, re.S)
        assert status is not None and "active" in status.group(1), shown
        assert "failed" not in status.group(1)
    finally:
        client.close()
