"""Adopting a stack Proton left behind, through boto3 against a real `baryon up` and its local
cloud: a stack named and tagged as Proton named and tagged its own is made directly in the
cloud, adopted for an environment before the environment's first deployment is prepared, and
from then on every deployment of the environment updates THAT stack (same StackId, its tags
kept, no stack under Baryon's derived name), and deleting the environment deletes it.

Adoption has no API of its own here (`baryon import` records it, with the resource): the test
writes it the way an import does, with domain.adoption.adopt_stack in a transaction on the
server's own SQLite database, before CreateEnvironment enqueues the first deployment. An
adoption is keyed by the resource's ARN, so it can come before the resource exists.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from baryon.domain import adoption
from baryon.domain.adoption import AdoptedStack
from baryon.domain.arns import Arns
from baryon.settings import load_settings
from baryon.store.database import Database
from tests.support.bundles import CFN_MANIFEST, ENV_SCHEMA, Registry
from tests.support.deploying import (
    env_spec,
    outputs,
    publish_environment_template,
    settled,
    stack,
    stack_outputs,
)
from tests.support.local_cloud import settle
from tests.support.processes import BaryonProcess, own_baryon

TEMPLATE = "adopt-network"
ENV = "adopt-env"
STACK_NAME = "AWSProton-adopt-env-cloudformation--QYWPQLSESXEMRBY"
PROTON_ACCOUNT = "111122223333"  # the account Proton ran in: its tags name it
ROLE = "arn:aws:iam::123456789012:role/proton"
# What the environment template's bundle holds; Proton rendered it with Jinja, no parameters.
ENV_TEMPLATE_CFN = """\
AWSTemplateFormatVersion: '2010-09-09'
Description: Network of {{ environment.name }}
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: '{{ environment.name }}-artifacts'
  Size:
    Type: AWS::SSM::Parameter
    Properties:
      Name: '/network/{{ environment.name }}/size'
      Type: String
      Value: '{{ environment.inputs.size }}'
Outputs:
  BucketName:
    Value: !Ref Bucket
  Size:
    Value: '{{ environment.inputs.size }}'
"""

server = own_baryon("adopted-stacks", env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.01"})


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    return server.client("proton")


@pytest.fixture(scope="module")
def cloudformation(server: BaryonProcess) -> Any:
    return server.client("cloudformation")


@pytest.fixture(scope="module")
def registry(server: BaryonProcess, proton: Any) -> Registry:
    registry = Registry(proton, server.client("s3"))
    files = {
        "schema/schema.yaml": ENV_SCHEMA,
        "infrastructure/manifest.yaml": CFN_MANIFEST,
        "infrastructure/cloudformation.yaml": ENV_TEMPLATE_CFN,
    }
    publish_environment_template(registry, TEMPLATE, files)
    return registry


class ServerStore:
    """The server's own database, opened as the server opens it (its settings for its data
    directory); what an import would write, written with the domain's own functions."""

    def __init__(self, server: BaryonProcess) -> None:
        self.settings = load_settings({"data_dir": server.data_dir}, environ={})
        self.arns = Arns(self.settings.region, self.settings.account_id)

    def adopt(self, environment: str, stack_name: str, stack_id: str) -> str:
        """Adopts the stack for the environment of that name; returns the environment's ARN."""
        arn = self.arns.environment(environment)
        db = Database(self.settings.sqlalchemy_url)
        try:
            with db.session(write=True) as session:
                adoption.adopt_stack(session, arn, stack_name, stack_id, datetime.now(UTC))
        finally:
            db.dispose()
        return arn

    def adopted(self, arn: str) -> AdoptedStack | None:
        db = Database(self.settings.sqlalchemy_url)
        try:
            with db.session() as session:
                return adoption.adopted_stack(session, arn)
        finally:
            db.dispose()


def _rendered(environment: str, size: str) -> str:
    """The bundle's template as Proton rendered it for the environment."""
    return ENV_TEMPLATE_CFN.replace("{{ environment.name }}", environment).replace(
        "{{ environment.inputs.size }}", size
    )


def _proton_tags(environment: str) -> dict[str, str]:
    proton = f"arn:aws:proton:us-east-1:{PROTON_ACCOUNT}"
    return {
        "proton:account": PROTON_ACCOUNT,
        "proton:template": f"{proton}:environment-template/{TEMPLATE}",
        "proton:environment": f"{proton}:environment/{environment}",
    }


def _make_proton_stack(cloudformation: Any, name: str, environment: str, size: str) -> str:
    """Made directly in the cloud, as Proton left it; returns its StackId."""
    created = cloudformation.create_stack(
        StackName=name,
        TemplateBody=_rendered(environment, size),
        Tags=[{"Key": k, "Value": v} for k, v in _proton_tags(environment).items()],
    )
    assert settle(cloudformation, name) == "CREATE_COMPLETE"
    return str(created["StackId"])


def _by_id(cloudformation: Any, stack_id: str) -> dict[str, Any]:
    """By its id, CloudFormation answers for a stack even once it is deleted."""
    found: dict[str, Any] = cloudformation.describe_stacks(StackName=stack_id)["Stacks"][0]
    return found


def _live_stacks_named(cloudformation: Any, name: str) -> list[str]:
    pages = cloudformation.get_paginator("list_stacks").paginate()
    return [
        s["StackId"]
        for page in pages
        for s in page["StackSummaries"]
        if s["StackName"] == name and s["StackStatus"] != "DELETE_COMPLETE"
    ]


def _environment_settled(proton: Any, name: str) -> dict[str, Any]:
    return settled(lambda: proton.get_environment(name=name), "environment")


def _deleted(proton: Any, name: str) -> None:
    """Deletes the environment and waits until it is gone (Proton has no waiter for that)."""
    proton.delete_environment(name=name)
    deadline = time.monotonic() + 120
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        while True:
            current = proton.get_environment(name=name)["environment"]
            assert current["deploymentStatus"] != "DELETE_FAILED", current
            assert time.monotonic() < deadline, f"{name} still there: {current}"
            time.sleep(0.2)


def test_an_adopted_stack_is_updated_in_place_and_deleted_with_its_environment(
    server: BaryonProcess, proton: Any, cloudformation: Any, registry: Registry
) -> None:
    stack_id = _make_proton_stack(cloudformation, STACK_NAME, ENV, "small")
    store = ServerStore(server)
    arn = store.adopt(ENV, STACK_NAME, stack_id)

    created = proton.create_environment(
        name=ENV,
        templateName=TEMPLATE,
        templateMajorVersion="1",
        protonServiceRoleArn=ROLE,
        spec=env_spec(size="small"),
    )["environment"]
    assert created["arn"] == arn  # the adoption was recorded for this very environment
    first = _environment_settled(proton, ENV)
    assert first["deploymentStatus"] == "SUCCEEDED", first.get("deploymentStatusMessage")
    assert _by_id(cloudformation, stack_id)["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
    assert stack(cloudformation, "environment", ENV) is None  # Baryon's derived name: no stack

    # A changed spec, deployed at the current version: an update of the adopted stack.
    proton.update_environment(
        name=ENV, deploymentType="CURRENT_VERSION", spec=env_spec(size="large")
    )
    updated = _environment_settled(proton, ENV)
    assert updated["deploymentStatus"] == "SUCCEEDED", updated.get("deploymentStatusMessage")
    adopted = _by_id(cloudformation, stack_id)
    assert (adopted["StackName"], adopted["StackStatus"]) == (STACK_NAME, "UPDATE_COMPLETE")
    assert stack_outputs(adopted) == {"BucketName": f"{ENV}-artifacts", "Size": "large"}
    assert _live_stacks_named(cloudformation, STACK_NAME) == [stack_id]
    assert stack(cloudformation, "environment", ENV) is None
    # Proton's tags stand as Proton wrote them (its account, its ARNs).
    assert {t["Key"]: t["Value"] for t in adopted["Tags"]} == _proton_tags(ENV)
    ssm = server.client("ssm")
    assert ssm.get_parameter(Name=f"/network/{ENV}/size")["Parameter"]["Value"] == "large"

    # Read back as any environment's: outputs, provisioned resources, the deployment.
    env_outputs = outputs(proton.list_environment_outputs(environmentName=ENV)["outputs"])
    assert env_outputs == {"BucketName": f"{ENV}-artifacts", "Size": "large"}
    resources = proton.list_environment_provisioned_resources(environmentName=ENV)[
        "provisionedResources"
    ]
    assert sorted((r["name"], r["identifier"], r["provisioningEngine"]) for r in resources) == [
        ("Bucket", f"{ENV}-artifacts", "CLOUDFORMATION"),
        ("Size", f"/network/{ENV}/size", "CLOUDFORMATION"),
    ]
    deployment = proton.get_deployment(id=updated["lastSucceededDeploymentId"])["deployment"]
    assert (deployment["deploymentStatus"], deployment["targetArn"]) == ("SUCCEEDED", arn)
    assert "size: large" in deployment["targetState"]["environment"]["spec"]

    _deleted(proton, ENV)
    assert _by_id(cloudformation, stack_id)["StackStatus"] == "DELETE_COMPLETE"
    assert _live_stacks_named(cloudformation, STACK_NAME) == []
    assert store.adopted(arn) is None  # the environment took its adoption with it


def test_an_environment_whose_adopted_stack_is_gone_gets_no_new_stack(
    server: BaryonProcess, proton: Any, cloudformation: Any, registry: Registry
) -> None:
    environment = "adopt-gone"
    name = "AWSProton-adopt-gone-cloudformation--HZYQRFWOSFPHCQZ"
    stack_id = _make_proton_stack(cloudformation, name, environment, "small")
    cloudformation.delete_stack(StackName=stack_id)
    assert settle(cloudformation, stack_id) == "DELETE_COMPLETE"
    store = ServerStore(server)
    arn = store.adopt(environment, name, stack_id)

    proton.create_environment(
        name=environment,
        templateName=TEMPLATE,
        templateMajorVersion="1",
        protonServiceRoleArn=ROLE,
        spec=env_spec(size="small"),
    )
    failed = _environment_settled(proton, environment)

    assert failed["deploymentStatus"] == "FAILED"
    assert f"the adopted stack {name} does not exist" in failed["deploymentStatusMessage"]
    assert _live_stacks_named(cloudformation, name) == []
    assert stack(cloudformation, "environment", environment) is None
    # Nothing stands, so the environment can still be deleted, and its adoption goes with it.
    _deleted(proton, environment)
    assert store.adopted(arn) is None
