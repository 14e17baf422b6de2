"""The catalog: templates, their versions and statuses, and each version's schema as
documentation."""

from __future__ import annotations

from starlette.responses import Response

from baryon.operations import catalog
from baryon.operations.catalog import TemplateKind
from baryon.web import forms, members, sync_panels
from baryon.web.http import NotFound, Visit

_ROLE_WORDS = {
    "environment": "Environment inputs",
    "service": "Service instance inputs (one set per instance)",
    "pipeline": "Pipeline inputs",
}


def template_kind(visit: Visit) -> TemplateKind:
    kind = visit.param("kind").upper()
    if kind not in TemplateKind.__members__:
        raise NotFound("There is no such kind of template.")
    return TemplateKind(kind)


def index(visit: Visit) -> Response:
    rows = catalog.catalog(visit.context("catalog"))
    environment_rows = [r for r in rows if r.template.kind == TemplateKind.ENVIRONMENT.value]
    service_rows = [r for r in rows if r.template.kind == TemplateKind.SERVICE.value]
    return visit.page("catalog.html", environment_rows=environment_rows, service_rows=service_rows)


def template_page(visit: Visit) -> Response:
    kind = template_kind(visit)
    found = catalog.template_versions(visit.context("template_versions"), kind, visit.param("name"))
    majors = [row.version.major for row in found.rows]
    sync = sync_panels.template_sync_panel(visit, kind, found.template.name, majors)
    return visit.page(
        "template.html", template=found.template, kind=kind, rows=found.rows, sync=sync
    )


def version_page(visit: Visit) -> Response:
    kind = template_kind(visit)
    number = visit.param("version")
    parts = members.version_number(number)
    if parts is None:
        raise NotFound(f"'{number}' is not a version number such as 1.0.")
    detail = catalog.version_detail(
        visit.context("version_detail"), kind, visit.param("name"), *parts
    )
    schema = detail.schema
    sections = []
    if schema is not None:
        for role, type_name in schema.input_types().items():
            sections.append((_ROLE_WORDS[role], type_name, forms.describe_type(schema, type_name)))
    return visit.page(
        "version.html",
        template=detail.template,
        kind=kind,
        version=detail.version,
        row=detail.row,
        sections=sections,
        published=detail.published,
    )
