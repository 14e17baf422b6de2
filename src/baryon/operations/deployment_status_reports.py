"""NotifyResourceDeploymentStatusChange: a running provisioning program reports on its run.

Proton's CodeBuild commands call it (``aws proton notify-resource-deployment-status-change
--resource-arn $RESOURCE_ARN --outputs ...``) to publish the resource's outputs; a
self-managed pipeline calls it to say that the deployment it ran ended.

The report is about the deployment in progress on the resource (``deploymentId``, when
given, must name it: a superseded deployment's report is refused): its outputs are kept on
that deployment, merged with those reported before (a later value of a key wins); the status
and message go to the deployment's log. For a deployment Baryon runs itself (the CodeBuild
provisioner, provisioners/codebuild.py) a SUCCEEDED or FAILED report does not end it: the
commands' exit status does (reference 4.5: most AWS samples send no status at all, one sends
SUCCEEDED before its last command, which may still fail). A deployment handed off to a pull
request (self-managed provisioning, domain/pull_requests.py) is run by someone else: their
SUCCEEDED ends it with the outputs reported, their FAILED ends it with their message, in the
same transaction that records the outputs. The model caps ``outputs`` at 50 entries (the API
refuses more) and each key and value at 1,024 characters. Outputs reported on a resource
whose last deployment succeeded (no status, or SUCCEEDED) join its current outputs: a
pipeline's own build publishes them so after the pipeline's deployment ended.
"""

from __future__ import annotations

from collections.abc import Sequence

from baryon.domain import deployments, pull_requests
from baryon.domain.arns import parse_arn
from baryon.domain.errors import Conflict, InvalidInput, NotFound
from baryon.domain.recovery import ResourceRef, locate
from baryon.operations.context import RequestContext
from baryon.operations.unbuilt import proton_operation
from baryon.service_models import proton
from baryon.service_models.proton import (
    DeploymentStatus,
    DeploymentTargetResourceType,
    ResourceDeploymentStatus,
)
from baryon.store.tables import Deployment


@proton_operation("NotifyResourceDeploymentStatusChange")
def notify_resource_deployment_status_change(
    ctx: RequestContext, request: proton.NotifyResourceDeploymentStatusChangeInput
) -> proton.NotifyResourceDeploymentStatusChangeOutput:
    arn = request["resourceArn"]
    ref = _resource_ref(ctx, arn)
    with ctx.db.session(write=True) as session:
        located = locate(session, ctx.arns, ref, lock=False)
        deployment_id = located.resource.last_attempted_deployment_id
        requested = request.get("deploymentId")
        if requested is not None and requested != deployment_id:
            raise InvalidInput(
                f"The deployment '{requested}' is not the current deployment of '{arn}'.",
                field=("deploymentId",),
            )
        deployment = (
            session.get(Deployment, deployment_id, with_for_update=True) if deployment_id else None
        )
        reported = _reported_outputs(request.get("outputs") or [])
        if deployment is not None and _late_outputs(deployment, request, reported):
            # A pipeline's build publishes outputs after the deployment that made the
            # pipeline ended (AWS's CDK pipeline sample reports its ImageTag so): they join
            # the resource's current outputs, as Proton took them.
            merged = {**deployments.outputs_of(session, deployment.id), **reported}
            deployments.store_outputs(session, deployment.id, merged)
            line = f"Output(s) {', '.join(sorted(reported))} reported after the deployment ended."
            deployments.log_event(session, deployment.id, line, ctx.now)
            return {}
        if deployment is None or not pull_requests.can_report(session, deployment):
            raise Conflict(
                f"{located.label} has no deployment in progress to report on "
                f"(status {located.resource.deployment_status})."
            )
        if reported:
            merged = {**deployments.outputs_of(session, deployment.id), **reported}
            deployments.store_outputs(session, deployment.id, merged)
        handed_off = pull_requests.handed_off(session, deployment.id)
        line = _log_line(request, reported, handed_off=handed_off)
        deployments.log_event(session, deployment.id, line, ctx.now)
        pull_requests.report(
            session,
            ctx.arns,
            deployment,
            request.get("status"),
            request.get("statusMessage"),
            ctx.now,
        )
    ctx.jobs_enqueued()  # an ended instance may release its service's pipeline
    return {}


# The ARN's resource type -> what kind of resource it names, by the number of path parts.
def _resource_ref(ctx: RequestContext, arn: str) -> ResourceRef:
    parsed = parse_arn(arn)
    missing = NotFound(f"The resource '{arn}' was not found.")
    if parsed is None or (parsed.region, parsed.account_id) != (
        ctx.arns.region,
        ctx.arns.account_id,
    ):
        raise missing
    path = parsed.resource_path.split("/")
    if parsed.resource_type == "environment" and len(path) == 1:
        return ResourceRef(DeploymentTargetResourceType.ENVIRONMENT, environment=path[0])
    if parsed.resource_type == "component" and len(path) == 1:
        return ResourceRef(DeploymentTargetResourceType.COMPONENT, component=path[0])
    if parsed.resource_type == "service" and path[1:] == ["pipeline"]:
        return ResourceRef(DeploymentTargetResourceType.SERVICE_PIPELINE, service=path[0])
    if parsed.resource_type == "service" and len(path) == 3 and path[1] == "service-instance":
        return ResourceRef(
            DeploymentTargetResourceType.SERVICE_INSTANCE, service=path[0], instance=path[2]
        )
    raise missing


def _late_outputs(
    deployment: Deployment,
    request: proton.NotifyResourceDeploymentStatusChangeInput,
    reported: dict[str, str],
) -> bool:
    """Outputs alone (or with SUCCEEDED) for a resource whose last deployment succeeded."""
    return (
        bool(reported)
        and deployment.status == DeploymentStatus.SUCCEEDED
        and request.get("status") in (None, ResourceDeploymentStatus.SUCCEEDED)
    )


def _reported_outputs(outputs: Sequence[proton.Output]) -> dict[str, str]:
    # The model makes key and valueString optional; an output without a key names nothing,
    # and one without a value is reported as empty (Proton's console shows it so).
    return {key: o.get("valueString") or "" for o in outputs if (key := o.get("key"))}


def _log_line(
    request: proton.NotifyResourceDeploymentStatusChangeInput,
    reported: dict[str, str],
    *,
    handed_off: bool,
) -> str:
    status = request.get("status")
    said = [f"status {status}"] if status else []
    if reported:
        said.append(f"output(s) {', '.join(sorted(reported))}")
    message = request.get("statusMessage")
    who = "The provisioning pipeline" if handed_off else "The program"
    line = f"{who} reported {' and '.join(said) or 'nothing'}"
    line += f": {message}" if message else "."
    if not handed_off and status in (
        ResourceDeploymentStatus.SUCCEEDED,
        ResourceDeploymentStatus.FAILED,
    ):
        line += " The deployment ends when its commands have all run."
    return line
