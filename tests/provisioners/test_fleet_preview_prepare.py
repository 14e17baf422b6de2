"""A fleet preview's change set, made again by a planning job re-run after a crash: the local
cloud refuses a second change set of one name on a stack (as AWS does), and `prepare` reuses
the one the dead run made while it can still run, or replaces it once the stack moved past it
(OBSOLETE)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from baryon.provisioners import CloudFormationProvisioner, ResourceIdentity
from baryon.provisioners.base import OutcomeStatus
from baryon.provisioners.cloudformation_change_sets import PlanStatus
from baryon.provisioners.names import resource_stack_name
from tests.provisioners.conftest import RecordingIO, identity, spec
from tests.provisioners.templates import settings_template


@pytest.fixture
def resource(request: pytest.FixtureRequest) -> ResourceIdentity:
    return identity(request.node.name[:60])


def test_a_rerun_reuses_its_change_set_and_replaces_one_the_stack_moved_past(
    provisioner: CloudFormationProvisioner, cfn: Any, resource: ResourceIdentity
) -> None:
    deployed = provisioner.deploy(spec(resource, settings_template("v1")), RecordingIO())
    assert deployed.status == OutcomeStatus.SUCCEEDED, deployed.message
    target = spec(resource, settings_template("v2"))

    first = provisioner.prepare(target, "baryon-preview-x-1", RecordingIO())
    assert first.status == PlanStatus.READY, first.reason
    stack_name = resource_stack_name(resource)
    with pytest.raises(ClientError) as refused:
        cfn.create_change_set(
            StackName=stack_name,
            ChangeSetName="baryon-preview-x-1",
            ChangeSetType="UPDATE",
            TemplateBody=settings_template("v2"),
        )
    assert refused.value.response["Error"]["Code"] == "AlreadyExistsException"

    io = RecordingIO()
    again = provisioner.prepare(target, "baryon-preview-x-1", io)
    assert again.status == PlanStatus.READY, again.reason
    assert again.change_set_id == first.change_set_id
    assert again.changes == first.changes
    assert io.logged("reusing change set baryon-preview-x-1")

    # The stack moves on (another deployment): the kept change set can no longer run.
    moved = provisioner.deploy(spec(resource, settings_template("v3")), RecordingIO())
    assert moved.status == OutcomeStatus.SUCCEEDED, moved.message
    replaced = provisioner.prepare(target, "baryon-preview-x-1", RecordingIO())
    assert replaced.status == PlanStatus.READY, replaced.reason
    assert replaced.change_set_id != first.change_set_id
    described = cfn.describe_change_set(ChangeSetName=replaced.change_set_id)
    assert described["ExecutionStatus"] == "AVAILABLE"
    with pytest.raises(ClientError):
        cfn.describe_change_set(ChangeSetName=first.change_set_id)
    # Dropping one that is gone (a cleanup job's second run) is fine.
    provisioner.drop_change_set(resource, str(first.change_set_id))
