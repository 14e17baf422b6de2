"""A stack left UPDATE_ROLLBACK_FAILED, recovered through Baryon's API, against `baryon up`.

The environment's bucket is deleted out of band (drift); an update that changes the bucket
and adds a bucket whose name is taken fails, and its rollback fails too (the bucket it would
put back is gone). The failure names every failed resource and says what to run;
ContinueUpdateRollback (boto3, the baryon model) continues the rollback -- again failing
while the bucket is missing, then succeeding when told to skip it -- and RetryDeployment runs
the failed update again once the drift is repaired. The CLI does the same through the API.
A resource the local cloud only simulates says so in the deployment log and in Baryon's
record of provisioned resources, while Proton's listing keeps Proton's shape.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError, WaiterError

from tests.support.bundles import Registry, env_bundle
from tests.support.deploying import (
    FAST,
    env_spec,
    publish_environment_template,
    stack,
)
from tests.support.processes import BaryonProcess, clean_environment, own_baryon

SUFFIX = uuid.uuid4().hex[:6]
TEMPLATE = f"rollback-{SUFFIX}"
ENV, HEALTHY, BY_CLI = f"drift{SUFFIX}", f"calm{SUFFIX}", f"cli{SUFFIX}"
ROLE = {"protonServiceRoleArn": "arn:aws:iam::123456789012:role/proton"}
DRIFTED, TAKEN = f"{ENV}-drift", f"{ENV}-taken"

_CFN = """\
AWSTemplateFormatVersion: '2010-09-09'
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: '{{{{ environment.name }}}}-drift'
      Tags:
        - Key: version
          Value: '{version}'
{extra}Outputs:
  BucketName:
    Value: !Ref Bucket
"""
_TAKEN = """\
  Taken:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: '{{ environment.name }}-taken'
"""


def _files(version: str, extra: str = "") -> dict[str, str]:
    files = env_bundle()
    files["infrastructure/cloudformation.yaml"] = _CFN.format(version=version, extra=extra)
    return files


def _log(baryon: BaryonProcess, deployment_id: str) -> list[str]:
    """The deployment's log (what the portal's deployment page lists), read from the embedded
    database, which the API does not expose."""
    with sqlite3.connect(f"file:{baryon.data_dir / 'baryon.db'}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT message FROM deployment_events WHERE deployment_id = ? ORDER BY id",
            (deployment_id,),
        ).fetchall()
    return [message for (message,) in rows]


server = own_baryon("rollback-recovery", env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.2"})


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    return server.client("proton")


@pytest.fixture(scope="module")
def baryon(server: BaryonProcess) -> Any:
    return server.client("baryon")


@pytest.fixture(scope="module")
def registry(server: BaryonProcess, proton: Any) -> Registry:
    registry = Registry(proton, server.client("s3"))
    publish_environment_template(registry, TEMPLATE, _files("v1"))
    # 1.1 changes the bucket and adds one whose name each test takes out of band first.
    publish_environment_template(registry, TEMPLATE, _files("v2", _TAKEN), major="1")
    for name in (ENV, HEALTHY, BY_CLI):
        proton.create_environment(
            name=name,
            templateName=TEMPLATE,
            templateMajorVersion="1",
            templateMinorVersion="0",
            spec=env_spec(),
            **ROLE,
        )
        proton.get_waiter("environment_deployed").wait(name=name, WaiterConfig=FAST)
    return registry


def _fail_with_its_rollback(server: BaryonProcess, proton: Any, name: str) -> dict[str, Any]:
    """Drift (the bucket deleted, the name 1.1 wants taken), then the update to 1.1: it
    fails, and so does its rollback."""
    s3 = server.client("s3")
    s3.delete_bucket(Bucket=f"{name}-drift")
    s3.create_bucket(Bucket=f"{name}-taken")
    proton.update_environment(name=name, deploymentType="MINOR_VERSION")
    return _settle(proton, name)


def _settle(proton: Any, name: str) -> dict[str, Any]:
    # FAILED is what some steps expect: the waiter gives up on it, and the caller looks.
    with contextlib.suppress(WaiterError):
        proton.get_waiter("environment_deployed").wait(name=name, WaiterConfig=FAST)
    environment: dict[str, Any] = proton.get_environment(name=name)["environment"]
    return environment


def _error(call: Any, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    error: dict[str, str] = raised.value.response["Error"]
    return error


def test_a_failed_rollback_is_continued_through_the_api_and_the_update_retried(
    server: BaryonProcess, proton: Any, baryon: Any, registry: Registry
) -> None:
    s3, cloudformation = server.client("s3"), server.client("cloudformation")
    failed = _fail_with_its_rollback(server, proton, ENV)

    # The failure names each failed resource with its reason and says what to run.
    assert failed["deploymentStatus"] == "FAILED"
    message = failed["deploymentStatusMessage"]
    assert "Taken (AWS::S3::Bucket) CREATE_FAILED" in message, message
    assert "BucketAlreadyExists" in message
    assert "Bucket (AWS::S3::Bucket) UPDATE_FAILED" in message and "NoSuchBucket" in message
    assert f"baryon deployment continue-rollback --environment {ENV}" in message
    assert "ContinueUpdateRollback" in message
    assert stack(cloudformation, "environment", ENV)["StackStatus"] == "UPDATE_ROLLBACK_FAILED"
    failed_id = failed["lastAttemptedDeploymentId"]
    log = _log(server, failed_id)
    for fragment in (
        "Taken (AWS::S3::Bucket) CREATE_FAILED",
        "Bucket (AWS::S3::Bucket) UPDATE_FAILED",
    ):
        assert any(fragment in line for line in log), log

    # A retry is refused until the rollback is continued, and so is a continue for a
    # healthy resource or one named with the wrong members.
    retry_first = _error(baryon.retry_deployment, id=failed_id)
    assert retry_first["Code"] == "ConflictException", retry_first
    assert "ContinueUpdateRollback" in retry_first["Message"]
    healthy = _error(
        baryon.continue_update_rollback, resourceType="ENVIRONMENT", environmentName=HEALTHY
    )
    assert healthy["Code"] == "ConflictException" and "no failed rollback" in healthy["Message"]
    named_wrong = _error(
        baryon.continue_update_rollback, resourceType="ENVIRONMENT", serviceName=ENV
    )
    assert named_wrong["Code"] == "ValidationException", named_wrong

    # Continuing while the bucket is still missing fails again, and says so.
    again = baryon.continue_update_rollback(resourceType="ENVIRONMENT", environmentName=ENV)
    assert again["deployment"]["status"] == "IN_PROGRESS"
    still = _settle(proton, ENV)
    assert still["lastAttemptedDeploymentId"] == again["deployment"]["id"]
    assert still["deploymentStatus"] == "FAILED"
    assert "NoSuchBucket" in still["deploymentStatusMessage"]
    assert "continue-rollback" in still["deploymentStatusMessage"]

    # Skipping a resource whose rollback did not fail is refused by CloudFormation: the
    # deployment fails with its text and the stack is left as it was.
    wrong_skip = baryon.continue_update_rollback(
        resourceType="ENVIRONMENT", environmentName=ENV, resourcesToSkip=["Taken"]
    )["deployment"]
    refused = _settle(proton, ENV)
    assert refused["lastAttemptedDeploymentId"] == wrong_skip["id"]
    assert refused["deploymentStatus"] == "FAILED"
    message = refused["deploymentStatusMessage"]
    assert "CloudFormation refused to continue the rollback" in message, message
    assert "ResourcesToSkip can only name resources in UPDATE_FAILED state" in message, message
    assert stack(cloudformation, "environment", ENV)["StackStatus"] == "UPDATE_ROLLBACK_FAILED"

    # Skipping the bucket that cannot roll back brings the stack back.
    skipped = baryon.continue_update_rollback(
        resourceType="ENVIRONMENT", environmentName=ENV, resourcesToSkip=["Bucket"]
    )["deployment"]
    recovered = _settle(proton, ENV)
    assert recovered["deploymentStatus"] == "SUCCEEDED", recovered.get("deploymentStatusMessage")
    assert recovered["lastAttemptedDeploymentId"] == skipped["id"]
    assert (recovered["templateMajorVersion"], recovered["templateMinorVersion"]) == ("1", "0")
    assert stack(cloudformation, "environment", ENV)["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert any("skipping Bucket" in line for line in _log(server, skipped["id"]))
    record = proton.get_deployment(id=skipped["id"])["deployment"]
    assert record["deploymentStatus"] == "SUCCEEDED"

    # With the drift repaired, the failed update runs again as a new deployment.
    s3.create_bucket(Bucket=DRIFTED)
    s3.delete_bucket(Bucket=TAKEN)
    retried = baryon.retry_deployment(id=failed_id)["deployment"]
    assert retried["id"] != failed_id and retried["targetResourceType"] == "ENVIRONMENT"
    done = _settle(proton, ENV)
    assert done["deploymentStatus"] == "SUCCEEDED", done.get("deploymentStatusMessage")
    assert (done["templateMajorVersion"], done["templateMinorVersion"]) == ("1", "1")
    assert stack(cloudformation, "environment", ENV)["StackStatus"] == "UPDATE_COMPLETE"


def _cli(server: BaryonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "baryon.cli.main", "deployment", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_environment(**{k: v for k, v in server.exports.items() if k != "AWS_DATA_PATH"}),
    )


def test_the_cli_continues_a_failed_rollback_and_refuses_a_healthy_resource(
    server: BaryonProcess, proton: Any, registry: Registry
) -> None:
    failed = _fail_with_its_rollback(server, proton, BY_CLI)
    assert failed["deploymentStatus"] == "FAILED"
    command = f"continue-rollback --environment {BY_CLI}"
    assert command in failed["deploymentStatusMessage"]

    refused = _cli(server, "continue-rollback", "--environment", HEALTHY)
    assert refused.returncode != 0
    assert "ConflictException" in refused.stderr and "no failed rollback" in refused.stderr

    done = _cli(server, *command.split(), "--skip", "Bucket", "--wait", "--timeout", "120")
    assert done.returncode == 0, done.stderr
    recovered = proton.get_environment(name=BY_CLI)["environment"]
    assert recovered["deploymentStatus"] == "SUCCEEDED"
    assert recovered["lastAttemptedDeploymentId"] == done.stdout.strip()

    retried = _cli(server, "retry", failed["lastAttemptedDeploymentId"])
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout.strip() != failed["lastAttemptedDeploymentId"]


_SIMULATING_CFN = """\
AWSTemplateFormatVersion: '2010-09-09'
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties:
      CidrBlock: 10.0.0.0/16
  Namespace:
    Type: AWS::ServiceDiscovery::PrivateDnsNamespace
    Properties:
      Name: '{{ environment.name }}.internal'
      Vpc: !Ref Vpc
Outputs:
  NamespaceId:
    Value: !GetAtt Namespace.Id
"""


def test_a_resource_the_local_cloud_simulates_says_so_in_the_log_and_the_records(
    server: BaryonProcess, proton: Any, registry: Registry
) -> None:
    files = env_bundle()
    files["infrastructure/cloudformation.yaml"] = _SIMULATING_CFN
    template, name = f"simulating-{SUFFIX}", f"sim{SUFFIX}"
    publish_environment_template(registry, template, files)
    proton.create_environment(
        name=name, templateName=template, templateMajorVersion="1", spec=env_spec(), **ROLE
    )
    environment = _settle(proton, name)
    assert environment["deploymentStatus"] == "SUCCEEDED", environment
    log = _log(server, environment["lastAttemptedDeploymentId"])
    marked = "Namespace (AWS::ServiceDiscovery::PrivateDnsNamespace) CREATE_COMPLETE [simulated"
    assert any(marked in line for line in log), log
    assert any("simulated these resources" in line and "Namespace" in line for line in log)
    assert not any("Vpc (AWS::EC2::VPC)" in line and "simulated" in line for line in log)

    # Proton's shape is unchanged; Baryon's own record (the portal's table) keeps the mark.
    listed = proton.list_environment_provisioned_resources(environmentName=name)
    assert {r["name"]: r["provisioningEngine"] for r in listed["provisionedResources"]} == {
        "Vpc": "CLOUDFORMATION",
        "Namespace": "CLOUDFORMATION",
    }
    with sqlite3.connect(f"file:{server.data_dir / 'baryon.db'}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT name, simulated FROM provisioned_resources WHERE resource_arn = ?",
            (environment["arn"],),
        ).fetchall()
    assert dict(rows) == {"Vpc": 0, "Namespace": 1}
