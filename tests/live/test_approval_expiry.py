"""An approval nobody decides on expires (setting approval_expiry_hours): its deployment ends
CANCELLED saying so, the environment keeps what it ran, and a late approval is refused."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.bundles import Registry
from tests.support.deploying import (
    FAST,
    env_spec,
    error_message,
    publish_environment_template,
    settled,
    stack,
    stack_outputs,
)
from tests.support.processes import BaryonProcess, own_baryon

SUFFIX = uuid.uuid4().hex[:6]
ENV_TEMPLATE, PROD = f"xenv-{SUFFIX}", f"prod{SUFFIX}"
RULE = """
permit (principal, action == Baryon::Action::"RequireApproval", resource)
when { resource.kind == "environment" && resource.hasTag("stage") };
"""

server = own_baryon(
    "approval-expiry",
    env={
        "BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.01",
        "BARYON_APPROVAL_EXPIRY_HOURS": "0.0005",  # 1.8 seconds
    },
)


def test_an_undecided_approval_expires_and_nothing_is_deployed(server: BaryonProcess) -> None:
    proton: Any = server.client("proton")
    baryon: Any = server.client("baryon")
    publish_environment_template(Registry(proton, server.client("s3")), ENV_TEMPLATE)
    proton.create_environment(
        protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
        name=PROD,
        templateName=ENV_TEMPLATE,
        templateMajorVersion="1",
        spec=env_spec(size="large"),
        tags=[{"key": "stage", "value": "prod"}],
    )
    proton.get_waiter("environment_deployed").wait(name=PROD, WaiterConfig=FAST)
    before = stack(server.client("cloudformation"), "environment", PROD)
    assert before is not None
    baryon.put_approval_rule(name="tagged-environments", policy=RULE)

    proton.update_environment(
        name=PROD, deploymentType="CURRENT_VERSION", spec=env_spec(size="small")
    )
    view = settled(lambda: proton.get_environment(name=PROD), "environment", timeout=90)
    assert view["deploymentStatus"] == "CANCELLED"
    assert "expired" in view["deploymentStatusMessage"]
    (approval,) = baryon.list_approvals()["approvals"]
    assert approval["status"] == "EXPIRED"
    assert approval["deploymentStatus"] == "CANCELLED"
    after = stack(server.client("cloudformation"), "environment", PROD)
    assert after is not None and stack_outputs(after) == stack_outputs(before)
    with pytest.raises(ClientError) as late:
        baryon.approve_deployment(deploymentId=approval["deploymentId"])
    assert late.value.response["Error"]["Code"] == "ConflictException"
    assert "expired" in error_message(late)
