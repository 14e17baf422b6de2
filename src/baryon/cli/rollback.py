"""``baryon rollback preview|start``: a resource back to its last known good deployment.

API clients of the baryon model's PreviewRollback and RollbackResource. ``start`` previews
first and starts the rollback with that preview's token, so what starts is what was shown
(asking before it, unless ``--yes``); ``--token`` starts from a preview shown earlier and is
refused if the resource was deployed since.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from baryon.cli.api_clients import ApiClients, call
from baryon.cli.options import OutputFormat, client_options, output_option
from baryon.cli.output import emit

F = TypeVar("F", bound=Callable[..., Any])


@click.group("rollback")
def rollback() -> None:
    """Roll an environment, a service instance or a pipeline back to its last known good."""


def _resource_options(command: F) -> F:
    options = (
        click.option("--environment", default=None, help="The environment to roll back."),
        click.option(
            "--service",
            default=None,
            help="The service: with --instance, that instance; alone, its pipeline.",
        ),
        click.option("--instance", default=None, help="The service instance (with --service)."),
        click.option(
            "--deployment",
            "deployment_id",
            default=None,
            help="The deployment to take back (default: the resource's last one).",
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command


def _request(
    environment: str | None, service: str | None, instance: str | None, deployment_id: str | None
) -> dict[str, Any]:
    if environment is not None and (service is not None or instance is not None):
        raise click.UsageError("Name one resource: --environment, or --service (--instance).")
    request: dict[str, Any]
    if environment is not None:
        request = {"resourceType": "ENVIRONMENT", "environmentName": environment}
    elif service is not None and instance is not None:
        request = {
            "resourceType": "SERVICE_INSTANCE",
            "serviceName": service,
            "serviceInstanceName": instance,
        }
    elif service is not None:
        request = {"resourceType": "SERVICE_PIPELINE", "serviceName": service}
    else:
        raise click.UsageError("Name the resource: --environment, or --service (--instance).")
    if deployment_id is not None:
        request["deploymentId"] = deployment_id
    return request


def _show(preview: dict[str, Any]) -> None:
    current = f"{preview['currentTemplateMajorVersion']}.{preview['currentTemplateMinorVersion']}"
    if "targetDeploymentId" in preview:
        target = f"{preview['targetTemplateMajorVersion']}.{preview['targetTemplateMinorVersion']}"
        click.echo(f"takes back   deployment {preview.get('reversesDeploymentId')}")
        click.echo(f"goes back to deployment {preview['targetDeploymentId']}")
        click.echo(f"version      {current} -> {target}")
    else:
        click.echo(f"version      {current}")
    for note in (preview.get("problem"), preview.get("note")):
        if note:
            click.echo(f"note         {note}")
    for change in preview["inputs"]:
        if change["change"] != "UNCHANGED":
            before = change.get("currentValue", "-")
            after = change.get("proposedValue", "-")
            click.echo(f"input        {change['name']}: {before} -> {after}")
    for diff in preview["files"]:
        if diff["changed"]:
            click.echo(f"file changes {diff['path']}")
    for loss in preview["losses"]:
        click.echo(f"cannot undo  {loss['message']}")
    if preview.get("previewToken"):
        click.echo(f"token        {preview['previewToken']}")


@rollback.command("preview")
@_resource_options
@output_option
@client_options
def preview(
    environment: str | None,
    service: str | None,
    instance: str | None,
    deployment_id: str | None,
    output: OutputFormat,
) -> None:
    """What a rollback would do: the version and spec it goes back to, every changed file
    and input, and what it cannot undo. Deploys nothing."""
    request = _request(environment, service, instance, deployment_id)
    answer = call(ApiClients().baryon.preview_rollback, **request)
    answer.pop("ResponseMetadata", None)
    emit(output, answer, lambda: _show(answer))


@rollback.command("start")
@_resource_options
@click.option("--token", default=None, help="Start from this earlier preview's token.")
@click.option("--yes", is_flag=True, help="Do not ask before starting.")
@output_option
@client_options
def start(
    environment: str | None,
    service: str | None,
    instance: str | None,
    deployment_id: str | None,
    token: str | None,
    yes: bool,
    output: OutputFormat,
) -> None:
    """Preview the rollback, then start it: a new deployment of the last known good version
    and spec, linked to the deployment it takes back."""
    request = _request(environment, service, instance, deployment_id)
    baryon = ApiClients().baryon
    if token is None:
        shown = call(baryon.preview_rollback, **request)
        if output == OutputFormat.TEXT:
            _show(shown)
        if shown.get("problem"):
            raise click.ClickException(shown["problem"])
        token = shown["previewToken"]
        if not yes:
            click.confirm("Start this rollback?", abort=True, err=True)
    answer = call(baryon.rollback_resource, **request, previewToken=token)["rollback"]
    emit(
        output,
        answer,
        lambda: click.echo(
            f"{answer['deployment']['id']} {answer['deployment']['status']} (rollback of "
            f"{answer['reversesDeploymentId']})"
        ),
    )
