"""The catalog: templates, their versions and statuses, and each version's schema as
documentation."""

from __future__ import annotations

from starlette.responses import Response

from baryon.domain import versions
from baryon.domain.template_versions import PUBLISHED, find_version
from baryon.domain.templates import TemplateKind, find_template
from baryon.web import forms, members, queries
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
    with visit.db.session() as session:
        rows = queries.catalog(session)
    environment_rows = [r for r in rows if r.template.kind == TemplateKind.ENVIRONMENT.value]
    service_rows = [r for r in rows if r.template.kind == TemplateKind.SERVICE.value]
    return visit.page("catalog.html", environment_rows=environment_rows, service_rows=service_rows)


def template_page(visit: Visit) -> Response:
    kind = template_kind(visit)
    with visit.db.session() as session:
        template = find_template(session, kind, visit.param("name"))
        rows = queries.versions_of(session, template)
    return visit.page("template.html", template=template, kind=kind, rows=rows)


def version_page(visit: Visit) -> Response:
    kind = template_kind(visit)
    number = visit.param("version")
    parts = members.version_number(number)
    if parts is None:
        raise NotFound(f"'{number}' is not a version number such as 1.0.")
    with visit.db.session() as session:
        template, version = find_version(session, kind, visit.param("name"), *parts)
        rows = {row.version.id: row for row in queries.versions_of(session, template)}
    schema = versions.version_schema(version) if version.schema_text else None
    sections = []
    if schema is not None:
        for role, type_name in schema.input_types().items():
            sections.append((_ROLE_WORDS[role], type_name, forms.describe_type(schema, type_name)))
    row = rows.get(version.id)
    return visit.page(
        "version.html",
        template=template,
        kind=kind,
        version=version,
        row=row,
        sections=sections,
        published=version.status == PUBLISHED,
    )
