"""GetDeploymentPreview (the ``baryon`` model): what an update would deploy, on the wire.

The API's door to the preview the portal's upgrade page shows: the request becomes the same
`previews.PreviewRequest`, answered by the same `previews.preview_deployment`, so both front
doors give the same files, inputs and problem for the same input. This module only
translates between the wire's members and those types.
"""

from __future__ import annotations

import json

from baryon.operations import previews
from baryon.operations.context import RequestContext
from baryon.operations.errors import InvalidInput
from baryon.operations.previews import FileDiff, InputChange, InputState, Preview, PreviewRequest
from baryon.operations.registry import baryon_operation
from baryon.operations.resource_keys import (
    ResourceKey,
    environment_key,
    instance_key,
    pipeline_key,
)
from baryon.service_models.baryon import (
    GetDeploymentPreviewInput,
    GetDeploymentPreviewOutput,
    PreviewChange,
    PreviewDeploymentType,
    PreviewFile,
    PreviewInputChange,
)

_CHANGES = {
    InputState.ADDED: PreviewChange.ADDED,
    InputState.REMOVED: PreviewChange.REMOVED,
    InputState.CHANGED: PreviewChange.CHANGED,
    InputState.SAME: PreviewChange.UNCHANGED,
}


@baryon_operation("GetDeploymentPreview")
def get_deployment_preview(
    ctx: RequestContext, request: GetDeploymentPreviewInput
) -> GetDeploymentPreviewOutput:
    preview = previews.preview_deployment(ctx, preview_request(request))
    return _output(preview)


def preview_request(request: GetDeploymentPreviewInput) -> PreviewRequest:
    return PreviewRequest(
        resource_of(request),
        PreviewDeploymentType(request["deploymentType"]),
        major=request.get("templateMajorVersion"),
        minor=request.get("templateMinorVersion"),
        spec=request.get("spec"),
    )


def resource_of(request: GetDeploymentPreviewInput) -> ResourceKey:
    """The environment, service instance or pipeline the request names (exactly one)."""
    environment = request.get("environmentName")
    service = request.get("serviceName")
    instance = request.get("serviceInstanceName")
    if environment is not None:
        if service is not None or instance is not None:
            raise InvalidInput(
                "Name one resource: environmentName, or serviceName (with "
                "serviceInstanceName for an instance), not both.",
                field=("serviceName",) if service is not None else ("serviceInstanceName",),
            )
        return environment_key(environment)
    if service is None:
        raise InvalidInput(
            "Name the resource to preview: environmentName, serviceName with "
            "serviceInstanceName, or serviceName alone for the service's pipeline.",
            field=("environmentName",),
        )
    return instance_key(service, instance) if instance is not None else pipeline_key(service)


def _output(preview: Preview) -> GetDeploymentPreviewOutput:
    output: GetDeploymentPreviewOutput = {
        "currentTemplateMajorVersion": str(preview.current_major),
        "currentTemplateMinorVersion": str(preview.current_minor),
        "targetTemplateMajorVersion": str(preview.target_major),
        "targetTemplateMinorVersion": str(preview.target_minor),
        "changed": preview.changed,
        "inputs": [_input(change) for change in preview.inputs],
        "files": [_file(diff) for diff in preview.files],
    }
    if preview.problem is not None:
        output["problem"] = preview.problem
    if preview.note is not None:
        output["note"] = preview.note
    return output


def _input(change: InputChange) -> PreviewInputChange:
    wire: PreviewInputChange = {"name": change.name, "change": _CHANGES[change.state]}
    if change.state != InputState.ADDED:
        wire["currentValue"] = json.dumps(change.before)
    if change.state != InputState.REMOVED:
        wire["proposedValue"] = json.dumps(change.after)
    return wire


def _file(diff: FileDiff) -> PreviewFile:
    wire: PreviewFile = {"path": diff.name, "changed": diff.changed}
    if diff.before is not None:
        wire["currentText"] = diff.before
    if diff.after is not None:
        wire["proposedText"] = diff.after
    return wire
