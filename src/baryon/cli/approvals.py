"""``baryon approvals``: deployments held for approval, and the rules that hold them;
``baryon protect`` / ``unprotect``: deletion protection of environments and services.

The commands are API clients (the baryon model's approval and protection operations), so they
act as whoever the CLI's key belongs to: the server refuses an approval by the change's own
requester, whichever door it comes through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from baryon.cli.api_clients import ApiClients, call
from baryon.cli.options import OutputFormat, client_options, output_option
from baryon.cli.output import Column, emit, print_table
from baryon.service_models.baryon import ApprovalStatus

_COLUMNS = (
    Column("Deployment", "deploymentId"),
    Column("Status", "status"),
    Column("Resource", "resource"),
    Column("Requested by", "requestedBy"),
    Column("Rules", "ruleList"),
    Column("Expires", "expiresAt"),
)


@click.group("approvals")
def approvals() -> None:
    """Deployments that wait for approval: list, show (with the preview), approve, reject."""


def _row(approval: dict[str, Any]) -> dict[str, Any]:
    parts = [
        approval.get(member)
        for member in ("environmentName", "serviceName", "serviceInstanceName", "componentName")
    ]
    return {
        **approval,
        "resource": "/".join(part for part in parts if part),
        "ruleList": ", ".join(approval["rules"]),
    }


@approvals.command("list")
@click.option(
    "--status",
    type=click.Choice([status.value for status in ApprovalStatus], case_sensitive=False),
    default=None,
    help="Only approvals in this status (pending: those that wait).",
)
@click.option("--limit", default=100, show_default=True, help="At most this many approvals.")
@output_option
@client_options
def list_approvals(status: str | None, limit: int, output: OutputFormat) -> None:
    """Approvals, newest first."""
    baryon = ApiClients().baryon
    request: dict[str, Any] = {"status": status.upper()} if status else {}
    found: list[dict[str, Any]] = []
    token = None
    while len(found) < limit:
        page = call(baryon.list_approvals, **request, **({"nextToken": token} if token else {}))
        found.extend(page["approvals"])
        token = page.get("nextToken")
        if not token:
            break
    found = found[:limit]
    emit(output, {"approvals": found}, lambda: print_table([_row(a) for a in found], _COLUMNS))


@approvals.command("show")
@click.argument("deployment_id")
@output_option
@client_options
def show(deployment_id: str, output: OutputFormat) -> None:
    """One approval, and while it waits, what its deployment would change."""
    answer = call(ApiClients().baryon.get_approval, deploymentId=deployment_id)
    answer.pop("ResponseMetadata", None)

    def text() -> None:
        approval = answer["approval"]
        click.echo(f"deployment   {approval['deploymentId']} ({approval['operation']})")
        click.echo(f"resource     {_row(approval)['resource']}")
        click.echo(f"status       {approval['status']}")
        click.echo(f"requested by {approval['requestedBy']} at {approval['requestedAt']}")
        click.echo(f"because      {approval['reason']}")
        click.echo(f"expires at   {approval['expiresAt']}")
        if approval.get("decidedBy"):
            comment = f": {approval['comment']}" if approval.get("comment") else ""
            click.echo(f"decided by   {approval['decidedBy']}{comment}")
        preview = answer.get("preview")
        if preview is None:
            return
        current = preview["currentTemplateVersion"]
        click.echo(f"version      {current} -> {preview['targetTemplateVersion']}")
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

    emit(output, answer, text)


def _decide(operation: str, deployment_id: str, comment: str | None, output: OutputFormat) -> None:
    baryon = ApiClients().baryon
    request: dict[str, Any] = {"deploymentId": deployment_id}
    if comment:
        request["comment"] = comment
    answer = call(getattr(baryon, operation), **request)["approval"]
    emit(output, answer, lambda: click.echo(f"{answer['deploymentId']} {answer['status']}"))


@approvals.command("approve")
@click.argument("deployment_id")
@click.option("--comment", default=None, help="Why, for the record.")
@output_option
@client_options
def approve(deployment_id: str, comment: str | None, output: OutputFormat) -> None:
    """Approve a waiting deployment: it runs. Its requester may not."""
    _decide("approve_deployment", deployment_id, comment, output)


@approvals.command("reject")
@click.argument("deployment_id")
@click.option("--comment", default=None, help="Why, for the requester.")
@output_option
@client_options
def reject(deployment_id: str, comment: str | None, output: OutputFormat) -> None:
    """Reject a waiting deployment: it ends CANCELLED without touching the cloud."""
    _decide("reject_deployment", deployment_id, comment, output)


@approvals.group("rules")
def rules() -> None:
    """The Cedar rules that decide which deployments wait for approval."""


@rules.command("list")
@output_option
@client_options
def list_rules(output: OutputFormat) -> None:
    found = call(ApiClients().baryon.list_approval_rules)["rules"]

    def text() -> None:
        for rule in found:
            click.echo(f"# {rule['name']} (by {rule['updatedBy']}, {rule['updatedAt']})")
            click.echo(rule["policy"].strip())
            click.echo()

    emit(output, {"rules": found}, text)


@rules.command("put")
@click.argument("name")
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The rule's Cedar text ('-' is not accepted: name a file).",
)
@output_option
@client_options
def put_rule(name: str, path: Path, output: OutputFormat) -> None:
    """Create or replace a rule from a Cedar file."""
    text = path.read_text(encoding="utf-8")
    rule = call(ApiClients().baryon.put_approval_rule, name=name, policy=text)["rule"]
    emit(output, rule, lambda: click.echo(f"approval rule {rule['name']} saved"))


@rules.command("delete")
@click.argument("name")
@client_options
def delete_rule(name: str) -> None:
    """Delete a rule; deployments it already holds keep waiting."""
    call(ApiClients().baryon.delete_approval_rule, name=name)
    click.echo(f"approval rule {name} deleted")


_KINDS = click.Choice(["environment", "service"], case_sensitive=False)


def _protect(kind: str, name: str, enabled: bool, output: OutputFormat) -> None:
    answer = call(
        ApiClients().baryon.set_deletion_protection,
        resourceType=kind.upper(),
        name=name,
        enabled=enabled,
    )["deletionProtection"]

    def text() -> None:
        if answer["protected"]:
            how = " and ".join(
                part
                for part, on in (
                    ("by hand", answer["byHand"]),
                    (f"by tag {answer['tag']}", answer["byTag"]),
                )
                if on
            )
            click.echo(f"{kind} {name} is protected from deletion ({how})")
        else:
            click.echo(f"{kind} {name} is not protected from deletion")

    emit(output, answer, text)


@click.command("protect")
@click.argument("kind", type=_KINDS)
@click.argument("name")
@output_option
@client_options
def protect(kind: str, name: str, output: OutputFormat) -> None:
    """Protect an environment or a service from deletion."""
    _protect(kind, name, True, output)


@click.command("unprotect")
@click.argument("kind", type=_KINDS)
@click.argument("name")
@output_option
@client_options
def unprotect(kind: str, name: str, output: OutputFormat) -> None:
    """Lift the protection set by hand (a protecting tag still protects)."""
    _protect(kind, name, False, output)
