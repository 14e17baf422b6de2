"""``baryon import`` and ``baryon imports``: bring what AWS Proton left behind under Baryon.

A client like ``baryon template publish``: it reads the export directory here (so that a bad
file is named before anything is sent), packs and uploads it to the bundle bucket Baryon
names, starts the import (StartImport) and follows it, then prints its plan. ``--plan`` only
plans; without it the worker applies the plan too, adopting each resource's existing stack.
``--account`` reads the account's Proton stacks too; without an export directory it imports
from the account alone. Running it again applies nothing twice, and finishes an import that
was interrupted.

``baryon imports list``, ``show IMPORT_ID`` and ``undo IMPORT_ID`` read the imports made and
remove from Baryon what one created (UndoImport); no stack is touched.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from baryon.bundles.errors import BundleError
from baryon.bundles.pack import pack_files
from baryon.bundles.tree import read_tree
from baryon.cli.api_clients import ApiClients, call
from baryon.cli.failures import CliFailure, ExitStatus
from baryon.cli.options import OutputFormat, client_options, output_option
from baryon.cli.output import Column, emit, print_table, to_json
from baryon.cli.presigned_uploads import create_upload, put_archive
from baryon.importing.errors import ExportError
from baryon.importing.export_directory import how_to_export, read_export
from baryon.importing.limits import DEFAULT_LIMITS
from baryon.service_models.baryon import BundleUploadPurpose, ImportMode, ImportStatus

console = Console(stderr=True)
_RUNNING = (ImportStatus.PLANNING, ImportStatus.APPLYING)


@click.command("import")
@click.argument("export_dir", required=False, type=click.Path(path_type=Path))
@click.option("--plan", "plan_only", is_flag=True, help="Only list what the import would do.")
@click.option(
    "--account",
    "include_account",
    is_flag=True,
    help="Also read the account's Proton stacks (AWSProton-* or tagged proton:*) that no "
    "exported resource claims, and import what their tags name; without EXPORT_DIR, import "
    "from the account alone.",
)
@output_option
@click.option(
    "--how-to-export",
    is_flag=True,
    help="Print the AWS CLI commands that make an export directory, and exit.",
)
@click.option("--timeout", default=1800, show_default=True, help="Seconds to wait.")
@client_options
def import_command(
    export_dir: Path | None,
    plan_only: bool,
    include_account: bool,
    output: OutputFormat,
    how_to_export: bool,
    timeout: int,
) -> None:
    """Import EXPORT_DIR (what `aws proton get-*` printed, and the bundles) and, with
    --account, the account's Proton stacks: templates, versions, environments, services,
    instances, pipelines and components are created as they are, each keeping its stack.
    Nothing is deployed. `baryon imports` lists, shows and undoes imports."""
    if how_to_export:
        click.echo(_how_to_export_text(), nl=False)
        return
    if export_dir is None and not include_account:
        raise click.UsageError(
            "give the export directory (see --how-to-export), or --account to import from "
            "the account alone"
        )
    if export_dir is not None and not export_dir.is_dir():
        raise click.BadParameter(f"'{export_dir}' is not a directory", param_hint="'EXPORT_DIR'")
    archive = _packed_export(export_dir) if export_dir is not None else None
    clients = ApiClients()
    info = call(clients.baryon.get_server_info)
    source: dict[str, Any] = {}
    if archive is not None:
        # Through the URL the server presigns: a Baryon key is enough, on real AWS too. The
        # key is named by the export's digest, so a re-run resumes the same import.
        upload = create_upload(clients.baryon, BundleUploadPurpose.IMPORT, archive)
        put_archive(upload, archive)
        console.print(
            f"Uploaded the export ({len(archive):,} bytes) to {upload.location}", soft_wrap=True
        )
        source = {"source": {"s3": {"bucket": upload.bucket, "key": upload.key}}}
    started = call(
        clients.baryon.start_import,
        **source,
        mode=ImportMode.PLAN if plan_only else ImportMode.APPLY,
        includeAccountStacks=include_account,
    )["import"]
    final = _follow(clients.baryon, started, timeout)
    items = _items(clients.baryon, final["id"])
    settings = _pipeline_settings(clients, info)
    if output is OutputFormat.JSON:
        document: dict[str, Any] = {"import": final, "items": items}
        if not plan_only:
            document["pipelineSettings"] = settings
        click.echo(to_json(document))
    else:
        _print_table(final, items)
        if not plan_only:
            _print_pipeline_settings(settings)
    if final["status"] == ImportStatus.FAILED:
        raise CliFailure(
            ExitStatus.REFUSED,
            f"import {final['id']} FAILED: {final.get('statusMessage')}",
            "see why each item failed above",
        )


@click.group("imports")
def imports_group() -> None:
    """The imports from AWS Proton made so far: list them, show one's plan, undo one."""


_IMPORT_COLUMNS = (
    Column("Id", "id"),
    Column("Mode", "mode"),
    Column("Status", "status"),
    Column("Source", "from"),
    Column("Created", "createdAt"),
    Column("Items", "itemCount"),
    Column("Applied", "appliedCount"),
    Column("Failed", "failedCount"),
)


@imports_group.command("list")
@output_option
@client_options
def list_imports(output: OutputFormat) -> None:
    """Every import, newest first."""
    baryon = ApiClients().baryon
    found: list[dict[str, Any]] = []
    token = None
    while True:
        page = call(baryon.list_imports, **({"nextToken": token} if token else {}))
        found += page["imports"]
        token = page.get("nextToken")
        if not token:
            break
    if output is OutputFormat.JSON:
        click.echo(to_json({"imports": found}))
        return
    print_table([{**row, "from": _source_words(row)} for row in found], _IMPORT_COLUMNS)


def _source_words(row: dict[str, Any]) -> str:
    source = row.get("source")
    where = f"s3://{source['s3']['bucket']}/{source['s3']['key']}" if source else "no export"
    return where + (" + account" if row.get("includeAccountStacks") else "")


@imports_group.command("show")
@click.argument("import_id")
@output_option
@client_options
def show_import(import_id: str, output: OutputFormat) -> None:
    """One import and its plan's items: what each did or would do, and why."""
    baryon = ApiClients().baryon
    found = call(baryon.get_import, id=import_id)["import"]
    items = _items(baryon, import_id)
    emit(output, {"import": found, "items": items}, lambda: _print_table(found, items))


@imports_group.command("undo")
@click.argument("import_id")
@output_option
@client_options
def undo_import(import_id: str, output: OutputFormat) -> None:
    """Remove from Baryon what the import created, newest first, releasing every stack it
    adopted untouched; what Baryon deployed since, or still uses, is kept with why."""
    clients = ApiClients()
    final = call(clients.baryon.undo_import, id=import_id)["import"]
    items = _items(clients.baryon, import_id)
    emit(output, {"import": final, "items": items}, lambda: _print_table(final, items))
    if final["status"] != ImportStatus.UNDONE:
        raise CliFailure(
            ExitStatus.REFUSED,
            f"import {import_id} is not wholly undone: {final.get('statusMessage')}",
            "the kept items' messages say why; deal with them and undo again",
        )


def _how_to_export_text() -> str:
    return (
        "# Run while AWS Proton still answers, with the AWS CLI and jq, in an empty folder:\n"
        + how_to_export()
        + "# Then: baryon import --plan export && baryon import export\n"
    )


def _packed_export(export_dir: Path) -> bytes:
    """The export directory read and checked as the worker will read it, then packed."""
    limits = DEFAULT_LIMITS
    try:
        files = read_tree(export_dir, limits.tree())
        export = read_export(files, limits)
        archive = pack_files(files, limits.tree())
    except BundleError as exc:
        raise CliFailure(ExitStatus.INVALID_INPUT, f"{export_dir}: {exc}") from exc
    except ExportError as exc:
        raise CliFailure(ExitStatus.INVALID_INPUT, f"{export_dir}/{exc}") from exc
    for warning in export.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    return archive


def _follow(baryon: Any, started: dict[str, Any], timeout: int) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    current = started
    with console.status(f"Import {started['id']}: {started['status']}") as status:
        while current["status"] in _RUNNING:
            if time.monotonic() > deadline:
                raise CliFailure(
                    ExitStatus.REFUSED,
                    f"import {current['id']} is still {current['status']} after {timeout} s",
                    "run the same command again to follow it (nothing is applied twice)",
                )
            time.sleep(0.5)
            current = call(baryon.get_import, id=started["id"])["import"]
            status.update(
                f"Import {current['id']}: {current['status']} "
                f"({current['appliedCount']} applied, {current['pendingCount']} to go)"
            )
    return dict(current)


def _items(baryon: Any, import_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = None
    while True:
        page = call(
            baryon.list_import_items, id=import_id, **({"nextToken": token} if token else {})
        )
        items += page["items"]
        token = page.get("nextToken")
        if not token:
            return items


def _print_table(final: dict[str, Any], items: list[dict[str, Any]]) -> None:
    table = Table("#", "Action", "What", "Name", "Version")
    table.add_column("Stack", overflow="fold")  # a stack's whole name, never cut
    table.add_column("Status")
    table.add_column("Why")
    for item in items:
        why = item.get("message") or item.get("detail") or ""
        table.add_row(
            str(item["position"]),
            item["action"],
            item["resourceType"].lower().replace("_", " "),
            item["name"],
            item.get("templateVersion") or "",
            item.get("stackName") or "",
            item["status"],
            why,
        )
    out = Console(width=200)
    out.print(table)
    counts = {}
    for item in items:
        counts[item["action"]] = counts.get(item["action"], 0) + 1
    summary = ", ".join(f"{n} {action}" for action, n in sorted(counts.items()))
    out.print(
        f"Import {final['id']}: {final['status']}"
        + (f" ({final['statusMessage']})" if final.get("statusMessage") else "")
        + f"; {summary or 'nothing to do'}",
        highlight=False,
    )
    for warning in final.get("warnings") or []:
        out.print(f"warning: {warning}", highlight=False)


def _pipeline_settings(clients: ApiClients, info: dict[str, Any]) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL_PROTON": clients.proton.meta.endpoint_url,
        "AWS_DEFAULT_REGION": info.get("region") or clients.proton.meta.region_name,
        "AWS_ACCESS_KEY_ID": "<an access key made with `baryon keys create` on the server>",
        "AWS_SECRET_ACCESS_KEY": "<its secret>",
    }


def _print_pipeline_settings(settings: dict[str, str]) -> None:
    out = Console(width=200)
    out.print(
        "\nPipelines that call `aws proton ...` (get-service, update-service-instance, "
        "wait service-instance-deployed, ...) keep working against Baryon once they have:",
        highlight=False,
    )
    for name, value in settings.items():
        out.print(f"  {name}={value}", highlight=False, markup=False)
