"""``baryon deployment``: the ways out of a failed deployment, through Baryon's API.

``continue-rollback`` calls the baryon model's ContinueUpdateRollback for the resource the
options name; ``retry`` calls RetryDeployment. Both print the new deployment's id and, with
``--wait``, follow it to its end through Proton's GetDeployment. ``plan`` prints what a
Terraform deployment planned (GetDeploymentPlan): its summary and each resource change.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import click
from rich.console import Console

from baryon.cli.api_clients import ApiClients, call
from baryon.cli.failures import CliFailure, ExitStatus
from baryon.cli.options import OutputFormat, client_options, output_option
from baryon.cli.output import emit
from baryon.operations.deployment_plans import PlannedChange, planned_changes

console = Console(stderr=True)
_ENDED = frozenset({"SUCCEEDED", "FAILED", "DELETE_COMPLETE", "DELETE_FAILED", "CANCELLED"})


@dataclass(frozen=True)
class StartedDeployment:
    """A deployment a command started, as ``--output json`` prints it."""

    id: str
    target_arn: str
    # The status it started in, or the one it ended in with --wait.
    status: str
    status_message: str | None = None


@dataclass(frozen=True)
class PrintedPlan:
    id: str
    summary: str
    changes: tuple[PlannedChange, ...]
    plan: Any  # Terraform's plan JSON, parsed (its text when it is not JSON)


@click.group()
def deployment() -> None:
    """Recover from failed deployments; show what a deployment planned."""


@deployment.command("continue-rollback")
@click.option("--environment", default=None, help="An environment.")
@click.option("--service", default=None, help="A service (with --instance or --pipeline).")
@click.option("--instance", default=None, help="A service instance of --service.")
@click.option("--pipeline", is_flag=True, help="The pipeline of --service.")
@click.option("--component", default=None, help="A component.")
@click.option(
    "--skip",
    "skip",
    multiple=True,
    metavar="LOGICAL_ID",
    help="A stack resource that cannot roll back, to leave as it is (repeatable).",
)
@click.option("--wait/--no-wait", default=False, help="Follow the deployment to its end.")
@click.option("--timeout", default=3600, show_default=True, help="Seconds to wait.")
@output_option
@client_options
def continue_rollback(
    environment: str | None,
    service: str | None,
    instance: str | None,
    pipeline: bool,
    component: str | None,
    skip: tuple[str, ...],
    wait: bool,
    timeout: int,
    output: OutputFormat,
) -> None:
    """Continue the failed rollback (UPDATE_ROLLBACK_FAILED) of a resource's last deployment."""
    request = _resource_request(environment, service, instance, pipeline, component)
    if skip:
        request["resourcesToSkip"] = list(skip)
    clients = ApiClients()
    started = call(clients.baryon.continue_update_rollback, **request)["deployment"]
    _report(clients, started, wait, timeout, output)


@deployment.command("retry")
@click.argument("deployment_id")
@click.option("--wait/--no-wait", default=False, help="Follow the deployment to its end.")
@click.option("--timeout", default=3600, show_default=True, help="Seconds to wait.")
@output_option
@client_options
def retry(deployment_id: str, wait: bool, timeout: int, output: OutputFormat) -> None:
    """Run a failed deployment again as a new deployment with the same target."""
    clients = ApiClients()
    started = call(clients.baryon.retry_deployment, id=deployment_id)["deployment"]
    _report(clients, started, wait, timeout, output)


@deployment.command("plan")
@click.argument("deployment_id")
@click.option("--json", "as_json", is_flag=True, help="Print Terraform's plan JSON as it is.")
@output_option
@client_options
def plan(deployment_id: str, as_json: bool, output: OutputFormat) -> None:
    """Show the plan a Terraform deployment made before it applied anything."""
    found = call(ApiClients().baryon.get_deployment_plan, id=deployment_id)
    if as_json:
        click.echo(found["planJson"])
        return
    changes = planned_changes(found["planJson"])

    def text() -> None:
        click.echo(found["summary"])
        for change in changes:
            click.echo(f"  {change.words:<18} {change.address}")

    document = PrintedPlan(deployment_id, found["summary"], changes, _parsed(found["planJson"]))
    emit(output, document, text)


def _parsed(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _resource_request(
    environment: str | None,
    service: str | None,
    instance: str | None,
    pipeline: bool,
    component: str | None,
) -> dict[str, Any]:
    chosen = [
        name
        for name, given in (
            ("--environment", environment),
            ("--service", service),
            ("--component", component),
        )
        if given
    ]
    if len(chosen) != 1:
        raise click.UsageError("Name one resource: --environment, --service or --component.")
    if environment:
        return {"resourceType": "ENVIRONMENT", "environmentName": environment}
    if component:
        return {"resourceType": "COMPONENT", "componentName": component}
    if instance and not pipeline:
        return {
            "resourceType": "SERVICE_INSTANCE",
            "serviceName": service,
            "serviceInstanceName": instance,
        }
    if pipeline and not instance:
        return {"resourceType": "SERVICE_PIPELINE", "serviceName": service}
    raise click.UsageError("With --service, give either --instance NAME or --pipeline.")


def _report(
    clients: ApiClients, started: dict[str, Any], wait: bool, timeout: int, output: OutputFormat
) -> None:
    console.print(f"deployment {started['id']} of {started['targetArn']}: {started['status']}")
    if not wait:
        begun = StartedDeployment(started["id"], started["targetArn"], started["status"])
        emit(output, begun, lambda: click.echo(started["id"]))
        return
    deadline = time.monotonic() + timeout
    while True:
        found = call(clients.proton.get_deployment, id=started["id"])["deployment"]
        status = found["deploymentStatus"]
        if status in _ENDED:
            break
        if time.monotonic() > deadline:
            raise CliFailure(
                ExitStatus.REFUSED,
                f"deployment {started['id']} is still {status} after {timeout} s",
                f"follow it with `aws proton get-deployment --id {started['id']}`",
            )
        time.sleep(1.0)
    message = found.get("deploymentStatusMessage")
    console.print(f"deployment {started['id']}: {status}" + (f": {message}" if message else ""))
    ended = StartedDeployment(started["id"], started["targetArn"], status, message)
    emit(output, ended, lambda: click.echo(started["id"]))
    if status != "SUCCEEDED":
        raise SystemExit(1)
