"""Environments: the list, creating one from a published version, and deleting one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from baryon.api.errors import ApiError, ConflictException
from baryon.domain import deployments, environments, versions
from baryon.domain.environments import CUSTOMER_MANAGED, EnvironmentSettings
from baryon.domain.templates import TemplateKind, find_template
from baryon.store.tables import Environment, Template, TemplateVersion
from baryon.web import forms, members, queries, resources, urls
from baryon.web.http import NotFound, Visit

INPUT_PREFIX = "input-"
# The create form's own fields, by the CreateEnvironment member each one fills.
_MEMBERS = {"name": "name", "description": "description", "role": "protonServiceRoleArn"}


def environment_key(visit: Visit) -> resources.ResourceKey:
    return resources.environment_key(visit.param("name"))


def index(visit: Visit) -> Response:
    with visit.db.session() as session:
        rows = queries.environments_with_status(session)
    busy = any(row.deployment_status in deployments.ACTIVE for row, _ in rows)
    return visit.page("environments.html", rows=rows, busy=busy)


def live_index(visit: Visit) -> Response:
    with visit.db.session() as session:
        rows = queries.environments_with_status(session)
    busy = any(row.deployment_status in deployments.ACTIVE for row, _ in rows)
    return visit.page("_environments_live.html", rows=rows, busy=busy)


# --- creating -------------------------------------------------------------------------------


def chosen_version(
    session: Session, kind: TemplateKind, template_name: str, number: str
) -> tuple[Template, TemplateVersion, list[TemplateVersion]]:
    """The published version a create form is for: ``number`` or the recommended one."""
    template = find_template(session, kind, template_name)
    published = queries.published_versions(session, template)
    if not published:
        raise NotFound(f"The {kind.label} '{template_name}' has no published version yet.")
    if number:
        parts = members.version_number(number)
        if parts is None:
            raise NotFound(f"'{number}' is not a version number such as 1.0.")
        version = versions.published_version(session, template, *parts)
    else:
        version = versions.published_version(session, template, published[0].major, None)
    return template, version, published


def starter_spec(schema: Any, type_name: str | None) -> str:
    """A YAML spec with every default written out, for the YAML editor to start from."""
    form = forms.input_form(schema, type_name, prefix="")
    values = {f.name: f.default for f in form.fields if f.has_default}
    return forms.environment_spec(values)


def new(visit: Visit) -> Response:
    template_name = visit.query("template") or visit.form.get("template", "")
    number = visit.query("version") or visit.form.get("version", "")
    if not template_name:
        with visit.db.session() as session:
            rows = [
                r
                for r in queries.catalog(session)
                if r.template.kind == TemplateKind.ENVIRONMENT.value and r.published
            ]
        return visit.page(
            "choose_template.html", rows=rows, what="environment", new_url=urls.new_environment
        )
    with visit.db.session() as session:
        template, version, published = chosen_version(
            session, TemplateKind.ENVIRONMENT, template_name, number
        )
        recommended = published[0]
    schema = versions.version_schema(version)
    form = forms.input_form(schema, schema.environment_input_type, prefix=INPUT_PREFIX)
    yaml_mode = (visit.form.get("mode") or visit.query("mode")) == "yaml"
    fields = {"name": "", "description": "", "role": ""}
    # Proton's rule, as on the API: AWS-managed provisioning deploys as a role the user names.
    needs_role = template.provisioning != CUSTOMER_MANAGED
    field_errors: dict[str, str] = {}
    errors: list[str] = []
    spec_text = starter_spec(schema, schema.environment_input_type)
    if visit.request.method == "GET":
        forms.fill(form, None)
    else:
        fields = {k: visit.form.get(k, "").strip() for k in fields}
        for field, member in _MEMBERS.items():
            required = field == "name" or (field == "role" and needs_role)
            problem = members.problem("CreateEnvironment", member, fields[field], required=required)
            if problem:
                field_errors[field] = problem
        if yaml_mode:
            spec_text = visit.form.get("spec", "")
            if not spec_text.strip():
                field_errors["spec"] = "Enter a spec."
        else:
            values = forms.read(form, visit.form)
            forms.check(form, schema, values)
            spec_text = forms.environment_spec(values)
        if not field_errors and not form.has_errors:
            created = _create(
                visit, template, version, fields, spec_text, yaml_mode, field_errors, errors
            )
            if created:
                return visit.redirect(
                    urls.environment(fields["name"]),
                    f"Environment {fields['name']} is being created from "
                    f"{template.name} {version.major}.{version.minor}.",
                )
    return visit.page(
        "environment_new.html",
        status=200 if visit.request.method == "GET" else 400,
        template=template,
        version=version,
        published=published,
        recommended=recommended,
        form=form,
        fields=fields,
        field_errors=field_errors,
        errors=[*errors, *form.errors],
        needs_role=needs_role,
        yaml_mode=yaml_mode,
        spec_text=spec_text,
    )


def _create(
    visit: Visit,
    template: Template,
    version: TemplateVersion,
    fields: dict[str, str],
    spec_text: str,
    yaml_mode: bool,
    field_errors: dict[str, str],
    errors: list[str],
) -> bool:
    try:
        with visit.db.session(write=True) as session:
            if session.scalar(select(Environment.id).where(Environment.name == fields["name"])):
                raise ConflictException(f"The environment '{fields['name']}' already exists.")
            environments.create_environment(
                session,
                visit.runtime.arns,
                name=fields["name"],
                template_name=template.name,
                major=str(version.major),
                minor=str(version.minor),
                spec=spec_text,
                settings=EnvironmentSettings(
                    description=fields["description"] or None,
                    proton_service_role_arn=fields["role"] or None,
                ),
                now=visit.now,
            )
    except ConflictException as exc:
        field_errors["name"] = (
            "is already taken by another environment"
            if "already exists" in exc.message
            else exc.message
        )
        return False
    except ApiError as exc:
        if yaml_mode:
            field_errors["spec"] = exc.message
        else:
            errors.append(exc.message)
        return False
    visit.wakeup_workers()
    return True


# --- deleting -------------------------------------------------------------------------------


def delete(visit: Visit) -> Response:
    name = visit.param("name")
    if visit.request.method == "GET":
        with visit.db.session() as session:
            environment = environments.find_environment(session, name)
            users = queries.instances_with_status(session, environment_id=environment.id)
        return visit.page(
            "confirm_delete.html",
            what=f"environment {name}",
            back=urls.environment(name),
            action=urls.environment(name, "delete"),
            consequences=[
                "Its CloudFormation stack and everything in it are deleted.",
                "Its deployment history stays, as in Proton.",
            ],
            blockers=[
                f"Service instance {i.name} of service {i.service_name} runs in it."
                for i, _ in users
            ],
        )
    with visit.db.session(write=True) as session:
        environments.delete_environment(session, visit.runtime.arns, name, visit.now)
    visit.wakeup_workers()
    return visit.redirect(urls.environment(name), f"Environment {name} is being deleted.")
