"""``baryon previews``: fleet previews (the baryon model's CreateFleetPreview,
GetFleetPreview, ListFleetPreviews, ApproveFleetPreview, DeleteFleetPreview), as whoever the
CLI's key belongs to.

``create`` takes one change for many resources: the service instances named (``--instance
SERVICE/NAME``, repeatable) or every instance of ``--service``, and environments
(``--environment``), each to ``--major``/``--minor`` (default: the deployed version) with
the deployed spec. It waits for the preview to be planned unless ``--no-wait``.
"""

from __future__ import annotations

import time
from typing import Any

import click

from baryon.cli.api_clients import ApiClients, call
from baryon.cli.options import OutputFormat, client_options, output_option
from baryon.cli.output import Column, emit, print_table

_GROUPS = (
    Column("Resources", "count"),
    Column("Status", "status"),
    Column("Risks", "riskList"),
    Column("Example", "resource"),
    Column("Changes", "changeList"),
)
_PREVIEWS = (
    Column("Id", "id"),
    Column("Status", "status"),
    Column("Resources", "resourceCount"),
    Column("Created by", "createdBy"),
    Column("Description", "description"),
)
# How long `create` waits for the planning job, at most.
WAIT_SECONDS = 600.0


@click.group("previews")
def previews() -> None:
    """Fleet previews: what a change would do to many resources, grouped by change."""


def _resource(item: dict[str, Any]) -> str:
    if "environmentName" in item:
        return f"environment {item['environmentName']}"
    return f"{item.get('serviceName')}/{item.get('serviceInstanceName')}"


def _group_row(group: dict[str, Any]) -> dict[str, Any]:
    example = group["example"]
    changes = [
        f"{c['action']} {c['logicalResourceId']}"
        + (f" (replacement {c['replacement']})" if c.get("replacement") == "True" else "")
        for c in example.get("resourceChanges", [])
    ]
    return {
        **group,
        "riskList": ", ".join(group.get("risks", [])) or "-",
        "resource": _resource(example),
        "changeList": "; ".join(changes) or example.get("problem") or "-",
    }


def _print(preview: dict[str, Any]) -> None:
    summary = preview["summary"]
    click.echo(f"Fleet preview {preview['id']}: {preview['status']}")
    if preview.get("stale"):
        click.echo(f"Stale: {preview['stale']}")
    click.echo(
        "  change {change}, no change {noChange}, replace {replace}, data loss {dataLoss}, "
        "failed {failed}, filtered {filtered}, pending {pending}, overwrites drift {drift}".format(
            **summary, drift=summary.get("driftOverwrite", 0)
        )
    )
    print_table([_group_row(g) for g in preview.get("groups", [])], _GROUPS)


@previews.command("create")
@click.option("--service", "services", multiple=True, help="Every instance of this service.")
@click.option("--instance", "instances", multiple=True, help="SERVICE/NAME (repeatable).")
@click.option("--environment", "environments", multiple=True, help="An environment.")
@click.option("--major", default=None, help="Target major version (default: the deployed).")
@click.option("--minor", default=None, help="Target minor version (default: recommended).")
@click.option("--description", default=None, help="What the change is for.")
@click.option("--wait/--no-wait", default=True, show_default=True)
@output_option
@client_options
def create(
    services: tuple[str, ...],
    instances: tuple[str, ...],
    environments: tuple[str, ...],
    major: str | None,
    minor: str | None,
    description: str | None,
    wait: bool,
    output: OutputFormat,
) -> None:
    """Previews moving the named resources to a version."""
    clients = ApiClients()
    target: dict[str, str] = {}
    if major is not None:
        target["templateMajorVersion"] = major
    if minor is not None:
        target["templateMinorVersion"] = minor
    changes: list[dict[str, Any]] = [{"environmentName": e, **target} for e in environments]
    for entry in instances:
        service, _, name = entry.partition("/")
        if not name:
            raise click.BadParameter(f"{entry!r} is not SERVICE/NAME", param_hint="--instance")
        changes.append({"serviceName": service, "serviceInstanceName": name, **target})
    for service in services:
        pages = clients.proton.get_paginator("list_service_instances").paginate(serviceName=service)
        for page in pages:
            for found in page["serviceInstances"]:
                changes.append(
                    {"serviceName": service, "serviceInstanceName": found["name"], **target}
                )
    if not changes:
        raise click.UsageError("Name at least one --service, --instance or --environment.")
    request: dict[str, Any] = {"changes": changes}
    if description:
        request["description"] = description
    preview = call(clients.baryon.create_fleet_preview, **request)["fleetPreview"]
    deadline = time.monotonic() + WAIT_SECONDS
    while wait and preview["status"] == "PLANNING" and time.monotonic() < deadline:
        time.sleep(1.0)
        preview = call(clients.baryon.get_fleet_preview, id=preview["id"])["fleetPreview"]
    emit(output, {"fleetPreview": preview}, lambda: _print(preview))


@previews.command("show")
@click.argument("preview_id")
@output_option
@client_options
def show(preview_id: str, output: OutputFormat) -> None:
    """A fleet preview: its summary and its resources grouped by change."""
    preview = call(ApiClients().baryon.get_fleet_preview, id=preview_id)["fleetPreview"]
    emit(output, {"fleetPreview": preview}, lambda: _print(preview))


@previews.command("approve")
@click.argument("preview_id")
@output_option
@client_options
def approve(preview_id: str, output: OutputFormat) -> None:
    """Approves a READY preview: its change sets are executed, exactly as previewed."""
    preview = call(ApiClients().baryon.approve_fleet_preview, id=preview_id)["fleetPreview"]
    emit(output, {"fleetPreview": preview}, lambda: _print(preview))


@previews.command("list")
@output_option
@client_options
def list_previews(output: OutputFormat) -> None:
    """Fleet previews, newest first."""
    pages = ApiClients().baryon.get_paginator("list_fleet_previews").paginate()
    found = [entry for page in pages for entry in page["previews"]]
    emit(output, {"previews": found}, lambda: print_table(found, _PREVIEWS))


@previews.command("delete")
@click.argument("preview_id")
@client_options
def delete(preview_id: str) -> None:
    """Deletes a preview; the change sets it kept are dropped from the cloud by a job."""
    call(ApiClients().baryon.delete_fleet_preview, id=preview_id)
    click.echo(f"Deleted fleet preview {preview_id}.")
