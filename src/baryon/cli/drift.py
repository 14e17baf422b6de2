"""``baryon drift``: check resources for drift, read a resource's report, list drift items and
decide them (re-apply, accept, ignore until a date).

The commands are API clients of the baryon model's drift operations, so they act as whoever
the CLI's key belongs to (a decision that deploys is authorized as that update would be).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from baryon.cli.api_clients import ApiClients, call
from baryon.cli.options import OutputFormat, client_options, output_option
from baryon.cli.output import Column, emit, print_table
from baryon.service_models.baryon import DriftDecision, DriftItemStatus

F = TypeVar("F", bound=Callable[..., Any])
FINISHED = frozenset({"IN_SYNC", "DRIFTED", "FAILED", "SKIPPED"})
WAIT_POLL_SECONDS = 1.0

_ITEM_COLUMNS = (
    Column("Item", "itemId"),
    Column("Status", "status"),
    Column("Resource", "logicalResourceId"),
    Column("Path", "propertyPath"),
    Column("Expected", "expectedValue"),
    Column("Actual", "actualValue"),
    Column("Bound to", "boundTo"),
)
_CHECK_COLUMNS = (
    Column("Check", "checkId"),
    Column("Resource", "resourceArn"),
    Column("Status", "status"),
    Column("Drifted", "driftedItems"),
    Column("Message", "statusMessage"),
)


@click.group("drift")
def drift() -> None:
    """Drift: what changed in the cloud behind Baryon's back, and what to do about it."""


def _resource_options(command: F) -> F:
    options = (
        click.option("--environment", default=None, help="An environment."),
        click.option(
            "--service",
            default=None,
            help="A service: with --instance, that instance; alone, its pipeline.",
        ),
        click.option("--instance", default=None, help="A service instance (with --service)."),
    )
    for option in reversed(options):
        command = option(command)
    return command


def _ref(environment: str | None, service: str | None, instance: str | None) -> dict[str, Any]:
    if environment is not None and (service is not None or instance is not None):
        raise click.UsageError("Name one resource: --environment, or --service (--instance).")
    if environment is not None:
        return {"resourceType": "ENVIRONMENT", "environmentName": environment}
    if service is not None and instance is not None:
        return {
            "resourceType": "SERVICE_INSTANCE",
            "serviceName": service,
            "serviceInstanceName": instance,
        }
    if service is not None:
        return {"resourceType": "SERVICE_PIPELINE", "serviceName": service}
    raise click.UsageError("Name the resource: --environment, or --service (--instance).")


def _item_row(item: dict[str, Any]) -> dict[str, Any]:
    bound = f"input {item['inputName']}" if item.get("inputName") else "template"
    return {
        **item,
        "expectedValue": item.get("expectedValue", "-"),
        "actualValue": item.get("actualValue", "-"),
        "boundTo": bound,
    }


@drift.command("check")
@_resource_options
@click.option("--template", default=None, help="Every deployed resource of this template.")
@click.option(
    "--template-type",
    type=click.Choice(["environment", "service"], case_sensitive=False),
    default="service",
    show_default=True,
    help="With --template: an environment or a service template.",
)
@click.option("--wait", is_flag=True, help="Wait until every check has ended.")
@click.option("--timeout", default=600, show_default=True, help="With --wait: seconds.")
@output_option
@client_options
def check(
    environment: str | None,
    service: str | None,
    instance: str | None,
    template: str | None,
    template_type: str,
    wait: bool,
    timeout: int,
    output: OutputFormat,
) -> None:
    """Check a resource (or a template's resources) for drift with its engine's detection."""
    request: dict[str, Any] = {}
    if template is not None:
        request = {"templateName": template, "templateType": template_type.upper()}
    if environment is not None or service is not None:
        request["resources"] = [_ref(environment, service, instance)]
    if not request:
        raise click.UsageError("Name a resource (--environment, --service) or a --template.")
    baryon = ApiClients().baryon
    checks = call(baryon.start_drift_check, **request)["checks"]
    if wait:
        checks = _waited(baryon, checks, timeout)
    emit(output, {"checks": checks}, lambda: print_table(checks, _CHECK_COLUMNS))


def _waited(baryon: Any, checks: list[dict[str, Any]], timeout: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    done: dict[str, dict[str, Any]] = {}
    while True:
        for started in checks:
            if started["checkId"] in done:
                continue
            ref = {
                key: started[key]
                for key in ("resourceType", "environmentName", "serviceName", "serviceInstanceName")
                if key in started
            }
            if ref["resourceType"] == "ENVIRONMENT":
                ref.pop("serviceName", None)
            last = call(baryon.get_drift_report, **ref).get("lastCheck") or {}
            if last.get("checkId") == started["checkId"] and last.get("status") in FINISHED:
                done[started["checkId"]] = last
        if len(done) == len(checks):
            return [done[c["checkId"]] for c in checks]
        if time.monotonic() > deadline:
            raise click.ClickException(
                f"{len(checks) - len(done)} of {len(checks)} checks did not end in {timeout} s."
            )
        time.sleep(WAIT_POLL_SECONDS)


@drift.command("show")
@_resource_options
@output_option
@client_options
def show(
    environment: str | None, service: str | None, instance: str | None, output: OutputFormat
) -> None:
    """A resource's drift report: its latest check and its unclosed drift items."""
    answer = call(ApiClients().baryon.get_drift_report, **_ref(environment, service, instance))
    answer.pop("ResponseMetadata", None)

    def text() -> None:
        click.echo(f"resource   {answer['resourceArn']}")
        last = answer.get("lastCheck")
        if last is None:
            click.echo("checked    never (baryon drift check)")
        else:
            click.echo(f"last check {last['status']} at {last['requestedAt']}")
            if last.get("statusMessage"):
                click.echo(f"           {last['statusMessage']}")
            click.echo(
                f"coverage   {last['resourcesChecked']} checked, "
                f"{last['resourcesNotChecked']} not checkable"
            )
        if answer["items"]:
            print_table([_item_row(item) for item in answer["items"]], _ITEM_COLUMNS)

    emit(output, answer, text)


@drift.command("list")
@click.option("--resource-arn", default=None, help="Only this resource's items.")
@click.option("--template", default=None, help="Only items of this template's resources.")
@click.option(
    "--status",
    type=click.Choice([status.value for status in DriftItemStatus], case_sensitive=False),
    default=None,
)
@click.option("--all", "include_closed", is_flag=True, help="Closed items too.")
@click.option("--limit", default=100, show_default=True, help="At most this many items.")
@output_option
@client_options
def list_items(
    resource_arn: str | None,
    template: str | None,
    status: str | None,
    include_closed: bool,
    limit: int,
    output: OutputFormat,
) -> None:
    """Drift items, newest first."""
    request: dict[str, Any] = {"includeClosed": include_closed}
    for member, value in (
        ("resourceArn", resource_arn),
        ("templateName", template),
        ("status", status.upper() if status else None),
    ):
        if value is not None:
            request[member] = value
    baryon = ApiClients().baryon
    found: list[dict[str, Any]] = []
    token = None
    while len(found) < limit:
        page = call(baryon.list_drift_items, **request, **({"nextToken": token} if token else {}))
        found.extend(page["items"])
        token = page.get("nextToken")
        if not token:
            break
    found = found[:limit]
    emit(
        output,
        {"items": found},
        lambda: print_table([_item_row(item) for item in found], _ITEM_COLUMNS),
    )


@drift.command("decide")
@click.argument("item_id")
@click.argument(
    "decision", type=click.Choice([d.value for d in DriftDecision], case_sensitive=False)
)
@click.option("--reason", default=None, help="Why (required to ignore).")
@click.option(
    "--until",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    help="Ignore until this date (UTC).",
)
@output_option
@client_options
def decide(
    item_id: str,
    decision: str,
    reason: str | None,
    until: datetime | None,
    output: OutputFormat,
) -> None:
    """Decide a drift item: REAPPLY (deploy the same version and spec again), ACCEPT (the
    input takes the actual value) or IGNORE (with --reason and --until)."""
    request: dict[str, Any] = {"itemId": item_id, "decision": decision.upper()}
    if reason is not None:
        request["reason"] = reason
    if until is not None:
        request["until"] = until.replace(tzinfo=UTC)
    item = call(ApiClients().baryon.decide_drift_item, **request)["item"]
    deployment = f" (deployment {item['deploymentId']})" if item.get("deploymentId") else ""
    emit(output, item, lambda: click.echo(f"{item['itemId']} {item['status']}{deployment}"))
