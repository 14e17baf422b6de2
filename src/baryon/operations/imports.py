"""The baryon model's imports from AWS Proton: start one, follow it, read its plan, undo it.

StartImport only records the import and enqueues its job (ARCHITECTURE rule 3): reading the
export from the bundle bucket and the account's stacks is the worker's (engine/imports.py).
"""

from __future__ import annotations

from sqlalchemy import select

from baryon.domain import imports, imports_undo
from baryon.domain.errors import InvalidInput
from baryon.domain.imports import ImportCounts
from baryon.operations.context import RequestContext
from baryon.operations.registry import baryon_operation
from baryon.service_models import baryon
from baryon.store.tables import ImportItemRow, ImportRow


def import_view(row: ImportRow, counts: ImportCounts) -> baryon.Import:
    view: baryon.Import = {
        "id": row.id,
        "mode": baryon.ImportMode(row.mode),
        "status": baryon.ImportStatus(row.status),
        "statusMessage": row.status_message,
        "includeAccountStacks": row.include_account_stacks,
        "createdAt": row.created_at,
        "lastModifiedAt": row.last_modified_at,
        "completedAt": row.completed_at,
        "itemCount": counts.total,
        "pendingCount": counts.pending,
        "appliedCount": counts.applied,
        "failedCount": counts.failed,
    }
    source = imports.export_source(row)
    if source is not None:
        view["source"] = {"s3": {"bucket": source[0], "key": source[1]}}
    if row.warnings:
        view["warnings"] = list(row.warnings)
    return view


def item_view(row: ImportItemRow) -> baryon.ImportItem:
    return {
        "position": row.position,
        "action": baryon.ImportItemAction(row.action),
        "resourceType": baryon.ImportResourceType(row.resource_type),
        "name": row.name,
        "templateVersion": row.template_version,
        "stackName": row.stack_name,
        "stackId": row.stack_id,
        "detail": row.detail,
        "status": baryon.ImportItemStatus(row.status),
        "message": row.message,
    }


@baryon_operation("StartImport")
def start_import(ctx: RequestContext, request: baryon.StartImportInput) -> baryon.StartImportOutput:
    include_account = bool(request.get("includeAccountStacks"))
    source: tuple[str, str] | None = None  # no export: the account alone
    if "source" in request:
        given = request["source"]["s3"]
        source = given["bucket"], given["key"]
        if source[0] != ctx.settings.resolved_bundle_bucket:
            raise InvalidInput.at(
                ("source", "s3", "bucket"),
                f"an export is read from Baryon's bundle bucket, "
                f"'{ctx.settings.resolved_bundle_bucket}' (baryon import uploads it there).",
            )
    elif not include_account:
        raise InvalidInput.at(
            ("source",),
            "give the packed export to import, or includeAccountStacks to import from the "
            "account alone.",
        )
    with ctx.db.session(write=True) as session:
        row, started = imports.start_import(
            session,
            source=source,
            mode=baryon.ImportMode(request["mode"]),
            include_account_stacks=include_account,
            now=ctx.now,
        )
        view = import_view(row, imports.counts(session, [row.id])[row.id])
    if started:
        ctx.jobs_enqueued()
    return {"import": view}


@baryon_operation("GetImport")
def get_import(ctx: RequestContext, request: baryon.GetImportInput) -> baryon.GetImportOutput:
    with ctx.db.session() as session:
        row = imports.find_import(session, request["id"])
        return {"import": import_view(row, imports.counts(session, [row.id])[row.id])}


@baryon_operation("ListImports")
def list_imports(ctx: RequestContext, request: baryon.ListImportsInput) -> baryon.ListImportsOutput:
    with ctx.db.session() as session:
        rows, next_token = ctx.page(
            session,
            select(ImportRow),
            [ImportRow.created_at, ImportRow.id],
            request,
            descending=True,
        )
        found = [row[0] for row in rows]
        counts = imports.counts(session, [row.id for row in found])
        return {
            "imports": [import_view(row, counts[row.id]) for row in found],
            "nextToken": next_token,
        }


@baryon_operation("ListImportItems")
def list_import_items(
    ctx: RequestContext, request: baryon.ListImportItemsInput
) -> baryon.ListImportItemsOutput:
    with ctx.db.session() as session:
        row = imports.find_import(session, request["id"])
        rows, next_token = ctx.page(
            session,
            select(ImportItemRow).where(ImportItemRow.import_id == row.id),
            [ImportItemRow.position],
            request,
            scope={"id": row.id},
        )
        return {"items": [item_view(item[0]) for item in rows], "nextToken": next_token}


@baryon_operation("UndoImport")
def undo_import(ctx: RequestContext, request: baryon.UndoImportInput) -> baryon.UndoImportOutput:
    # Only Baryon's own records change (no stack is touched): one transaction, no job.
    with ctx.db.session(write=True) as session:
        imports_undo.undo_import(session, ctx.arns, request["id"], ctx.now)
        row = imports.find_import(session, request["id"])
        return {"import": import_view(row, imports.counts(session, [row.id])[row.id])}
