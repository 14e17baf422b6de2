"""A pipeline held for approval while it waits for its service's instances, in process on a
private SQLite database (no worker runs: each instance's outcome is recorded by the test): its
approval expiring, its cancel, or its instances failing end it without a job ever queued to run
it, and the service's create operation ends CREATE_FAILED saying why (tests/live/test_approvals
drives approval and rejection through a real server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from baryon.domain import approvals, outcomes
from baryon.domain.approval_gate import ApprovalStatus
from baryon.domain.errors import Conflict
from baryon.operations import approval_rules
from baryon.operations import services as service_operations
from baryon.runtime import Runtime
from baryon.service_models.proton import DeploymentStatus, ServiceStatus
from baryon.store.jobs import JobKind
from baryon.store.tables import ApprovalRow, Deployment, Job, Service
from tests.domain.test_spec_parsing import (
    REPOSITORY,
    SERVICE_SPEC,
    _call,
    _environment,
    _work_off,
)

PIPELINES = (
    'permit (principal, action == Baryon::Action::"RequireApproval", resource)\n'
    'when { resource.kind == "pipeline" };\n'
)


def _held_service(runtime: Runtime) -> tuple[list[str], str]:
    """(instance deployment ids, the held pipeline's deployment id) of a new service."""
    _environment(runtime)
    _work_off(runtime)
    with runtime.db.session(write=True) as session:
        approval_rules.put_rule(session, "pipelines", PIPELINES, "user/test", datetime.now(UTC))
    _call(
        runtime,
        service_operations.create_service,
        "CreateService",
        {
            "name": "web",
            "templateName": "webapp",
            "templateMajorVersion": "1",
            "spec": SERVICE_SPEC,
            **REPOSITORY,
        },
    )
    with runtime.db.session() as session:
        operation = session.scalars(select(Service)).one().operation
        approval = session.get(ApprovalRow, operation["pipeline"])
        assert approval is not None and approval.status == ApprovalStatus.PENDING
        return list(operation["deployments"]), operation["pipeline"]


def _record(runtime: Runtime, deployment_id: str, status: DeploymentStatus) -> None:
    with runtime.db.session(write=True) as session:
        outcomes.record(
            session, runtime.arns, deployment_id, outcomes.Result(status), datetime.now(UTC)
        )


def _state(runtime: Runtime, pipeline_id: str) -> tuple[str, str, str, str | None, bool]:
    """(pipeline deployment, approval, service status, service message, a job runs it)."""
    with runtime.db.session() as session:
        deployment = session.get(Deployment, pipeline_id)
        approval = session.get(ApprovalRow, pipeline_id)
        service = session.scalars(select(Service)).one()
        jobs = session.scalars(select(Job).where(Job.kind == JobKind.DEPLOY)).all()
        queued = any(job.payload.get("deployment_id") == pipeline_id for job in jobs)
        assert deployment is not None and approval is not None
        return (
            deployment.status,
            approval.status,
            service.status,
            service.status_message,
            queued,
        )


def test_an_expired_pipeline_ends_with_its_instances_and_never_runs(runtime: Runtime) -> None:
    instances, pipeline = _held_service(runtime)
    with runtime.db.session(write=True) as session:
        later = datetime.now(UTC) + timedelta(hours=25)
        assert approvals.expire(session, runtime.arns, pipeline, later)
    assert _state(runtime, pipeline)[:3] == ("CANCELLED", "EXPIRED", "CREATE_IN_PROGRESS")
    for deployment_id in instances:
        _record(runtime, deployment_id, DeploymentStatus.SUCCEEDED)
    status, approval, service, message, queued = _state(runtime, pipeline)
    assert (status, approval, service, queued) == ("CANCELLED", "EXPIRED", "CREATE_FAILED", False)
    assert message is not None and "approval expired" in message


def test_a_cancelled_waiting_pipeline_withdraws_its_approval(runtime: Runtime) -> None:
    instances, pipeline = _held_service(runtime)
    _call(
        runtime,
        service_operations.cancel_service_pipeline_deployment,
        "CancelServicePipelineDeployment",
        {"serviceName": "web"},
    )
    assert _state(runtime, pipeline)[:2] == ("CANCELLED", "CANCELLED")
    with runtime.db.session(write=True) as session, pytest.raises(Conflict):
        approvals.approve(session, pipeline, "user/someone-else", None, datetime.now(UTC))
    for deployment_id in instances:
        _record(runtime, deployment_id, DeploymentStatus.SUCCEEDED)
    status, _, service, _, queued = _state(runtime, pipeline)
    assert (status, service, queued) == ("CANCELLED", ServiceStatus.CREATE_FAILED, False)


def test_failed_instances_end_the_pipeline_and_its_pending_approval(runtime: Runtime) -> None:
    instances, pipeline = _held_service(runtime)
    _record(runtime, instances[0], DeploymentStatus.FAILED)
    _record(runtime, instances[1], DeploymentStatus.SUCCEEDED)
    status, approval, service, message, queued = _state(runtime, pipeline)
    assert (status, approval, service, queued) == ("FAILED", "CANCELLED", "CREATE_FAILED", False)
    assert message is not None and "instance 'one' FAILED" in message


def test_approved_once_its_instances_are_done_it_is_queued_then(runtime: Runtime) -> None:
    instances, pipeline = _held_service(runtime)
    for deployment_id in instances:
        _record(runtime, deployment_id, DeploymentStatus.SUCCEEDED)
    assert _state(runtime, pipeline)[4] is False  # its turn came, its approval has not
    with runtime.db.session(write=True) as session:
        approvals.approve(session, pipeline, "user/someone-else", None, datetime.now(UTC))
    assert _state(runtime, pipeline)[:2] + _state(runtime, pipeline)[4:] == (
        "IN_PROGRESS",
        "APPROVED",
        True,
    )
