"""``baryon audit``: read, verify and export the audit trail of the region the CLI talks to.

The commands are API clients (ListAuditRecords, VerifyAuditTrail), so they read a remote
Baryon as well as the local one, as whoever the CLI's key belongs to.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import click

from baryon.cli.api_clients import ApiClients, call
from baryon.cli.failures import CliFailure, ExitStatus
from baryon.cli.options import OutputFormat, client_options, output_option
from baryon.cli.output import Column, emit, print_table, to_json
from baryon.service_models.baryon import AuditResult

_COLUMNS = (
    Column("#", "sequence"),
    Column("Time", "recordedAt"),
    Column("Principal", "principal"),
    Column("Door", "door"),
    Column("Operation", "operation"),
    Column("Resources", "resourceList"),
    Column("Result", "outcome"),
)


class _When(click.ParamType):
    """An ISO 8601 time (``2026-12-01``, ``2026-12-01T12:00:00Z``); UTC when it names no zone."""

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        try:
            when = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 time such as 2026-12-01T12:00:00Z", param, ctx)
        return when if when.tzinfo else when.replace(tzinfo=UTC)


WHEN = _When()


def _filter_options(command: Any) -> Any:
    options = [
        click.option("--principal", help="Only this principal's records: user/alice, robot/ci."),
        click.option("--operation", help="Only this operation's records: UpdateEnvironment."),
        click.option("--resource", help="Only records with an ARN that contains this text."),
        click.option("--since", type=WHEN, help="Only records made at or after this time."),
        click.option("--until", type=WHEN, help="Only records made before this time."),
        click.option(
            "--result",
            type=click.Choice([result.value for result in AuditResult], case_sensitive=False),
            help="Only calls that ended so.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group("audit")
def audit() -> None:
    """The audit trail: who changed what, when, through which door, and what was denied."""


@audit.command("list")
@_filter_options
@click.option("--limit", default=100, show_default=True, help="At most this many records.")
@output_option
@client_options
def list_records(limit: int, output: OutputFormat, **filters: Any) -> None:
    """Records, newest first."""
    records = []
    for record in _records(ApiClients().baryon, filters):
        if len(records) >= limit:
            break
        records.append(record)
    emit(output, {"records": records}, lambda: print_table([_row(r) for r in records], _COLUMNS))


@audit.command("export")
@_filter_options
@client_options
def export_records(**filters: Any) -> None:
    """Every record the filters keep as JSON lines, newest first (sort by sequence to replay
    the chain): ``baryon audit export --since 2026-12-01 > audit.jsonl``."""
    for record in _records(ApiClients().baryon, filters):
        click.echo(json.dumps(json.loads(to_json(record)), separators=(",", ":")))


@audit.command("verify")
@output_option
@client_options
def verify(output: OutputFormat) -> None:
    """Recomputes the hash chain; names the first record changed, removed or inserted."""
    answer = call(ApiClients().baryon.verify_audit_trail)
    answer.pop("ResponseMetadata", None)

    def text() -> None:
        count = answer["recordCount"]
        click.echo(f"{count} records; chain head {answer.get('headHash', '-')}")

    problem = answer.get("problem")
    if problem is not None:
        if output is OutputFormat.JSON:
            click.echo(to_json(answer))
        raise CliFailure(
            ExitStatus.AUDIT_TRAIL_BROKEN,
            f"the audit trail is broken at record {problem['sequence']}: {problem['message']}",
            "restore the records from a backup or an export, and find out who could write "
            "to the database",
        )
    emit(output, answer, lambda: (text(), click.echo("the audit trail is intact")))


def _records(baryon: Any, filters: dict[str, Any]) -> Iterator[dict[str, Any]]:
    request = {_camel(name): value for name, value in filters.items() if value is not None}
    if "result" in request:
        request["result"] = request["result"].upper()
    token = None
    while True:
        page = call(baryon.list_audit_records, **request, **({"nextToken": token} if token else {}))
        yield from page["records"]
        token = page.get("nextToken")
        if not token:
            return


def _row(record: dict[str, Any]) -> dict[str, Any]:
    code = record.get("errorCode")
    outcome = f"{record['result']} ({code})" if code else record["result"]
    return {**record, "resourceList": "\n".join(record["resources"]), "outcome": outcome}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
