"""Environments: the list, creating one from a published version, and deleting one."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from starlette.responses import Response

from baryon.operations import (
    catalog,
    creation_previews,
    deletion_protection,
    fleet,
    spec_documents,
)
from baryon.operations import environments as operations
from baryon.operations.catalog import CreateChoice, TemplateKind
from baryon.operations.deletion_protection import ProtectedKind
from baryon.operations.errors import Conflict, DomainError, FieldPath
from baryon.operations.existing_names import ExistingName
from baryon.operations.resource_keys import ENVIRONMENT
from baryon.web import forms, lists, members, resources, urls
from baryon.web.http import NotFound, PortalError, Visit

INPUT_PREFIX = "input-"
# The create form's own fields, by the CreateEnvironment member each one fills.
_MEMBERS = {"name": "name", "description": "description", "role": "protonServiceRoleArn"}
# The form field that shows an error whose path names a CreateEnvironment member.
_FIELD_OF: dict[FieldPath, str] = {(member,): field for field, member in _MEMBERS.items()}
_OPTIONAL = {field: member for field, member in _MEMBERS.items() if field != "name"}


def environment_key(visit: Visit) -> resources.PageKey:
    return resources.environment_key(visit.param("name"))


def index(visit: Visit) -> Response:
    return lists.resource_page(visit, "environments.html", ENVIRONMENT, "environments")


def live_index(visit: Visit) -> Response:
    return lists.resource_page(visit, "_environments_live.html", ENVIRONMENT, "environments")


# --- creating -------------------------------------------------------------------------------


def chosen_version(
    visit: Visit, kind: TemplateKind, template_name: str, number: str
) -> CreateChoice:
    """The published version a create form is for: ``number`` or the recommended one."""
    parts = None
    if number:
        parts = members.version_number(number)
        if parts is None:
            raise NotFound(f"'{number}' is not a version number such as 1.0.")
    return catalog.create_choice(visit.context("create_choice"), kind, template_name, parts)


def starter_spec(schema: Any, type_name: str | None) -> str:
    """A YAML spec with every default written out, for the YAML editor to start from."""
    form = forms.input_form(schema, type_name, prefix="")
    values = {f.name: f.default for f in form.fields if f.has_default}
    return spec_documents.environment_spec(values)


def new(visit: Visit) -> Response:
    template_name = visit.query("template") or visit.form.get("template", "")
    number = visit.query("version") or visit.form.get("version", "")
    if not template_name:
        rows = [
            r
            for r in catalog.catalog(visit.context("catalog"))
            if r.template.kind == TemplateKind.ENVIRONMENT.value and r.published
        ]
        return visit.page(
            "choose_template.html", rows=rows, what="environment", new_url=urls.new_environment
        )
    choice = chosen_version(visit, TemplateKind.ENVIRONMENT, template_name, number)
    template, version, published = choice.template, choice.version, choice.published
    recommended = choice.recommended
    schema = choice.schema
    form = forms.input_form(schema, schema.environment_input_type, prefix=INPUT_PREFIX)
    yaml_mode = (visit.form.get("mode") or visit.query("mode")) == "yaml"
    fields = {"name": "", "description": "", "role": ""}
    # Proton's rule, as on the API: AWS-managed provisioning deploys as a role the user names.
    needs_role = operations.needs_service_role(template)
    field_errors: dict[str, str] = {}
    errors: list[str] = []
    spec_text = starter_spec(schema, schema.environment_input_type)
    # The review step: "review" checks the form and shows what would deploy, "edit" goes
    # back to the form as it was typed, "create" creates (what a POST without one means).
    action = step_of(visit)
    if visit.request.method == "GET":
        forms.fill(form, None)
    elif action is Step.EDIT:
        fields = {k: visit.form.get(k, "").strip() for k in fields}
        spec_text = visit.form.get("spec", spec_text) if yaml_mode else spec_text
        forms.read(form, visit.form)
    else:
        fields = {k: visit.form.get(k, "").strip() for k in fields}
        for field, member in _MEMBERS.items():
            # A missing role is the operation's to refuse (the form only marks the field
            # required), so the portal says what the API says, beside the field.
            required = field == "name"
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
            spec_text = spec_documents.environment_spec(values)
        if not field_errors and not form.has_errors and action is Step.REVIEW:
            preview = creation_previews.preview_creation(
                visit.context("preview_creation"), version.id, fields["name"], spec_text
            )
            return visit.page(
                "environment_review.html",
                template=template,
                version=version,
                form=form,
                fields=fields,
                yaml_mode=yaml_mode,
                spec_text=spec_text,
                preview=preview,
            )
        if not field_errors and not form.has_errors and action is Step.CREATE:
            created = _create(visit, choice, fields, spec_text, yaml_mode, field_errors, errors)
            if created:
                return visit.redirect(
                    urls.environment(fields["name"]),
                    f"Environment {fields['name']} is being created from "
                    f"{template.name} {version.major}.{version.minor}.",
                )
    return visit.page(
        "environment_new.html",
        status=200 if visit.request.method == "GET" or action is Step.EDIT else 400,
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


class Step(StrEnum):
    """What a create form's button asks for."""

    REVIEW = "review"
    EDIT = "edit"
    CREATE = "create"


def step_of(visit: Visit) -> Step:
    text = visit.form.get("action") or Step.CREATE
    if text not in Step.__members__.values():
        raise PortalError(f"'{text[:40]}' is not a step of this form.")
    return Step(text)


def _create(
    visit: Visit,
    choice: CreateChoice,
    fields: dict[str, str],
    spec_text: str,
    yaml_mode: bool,
    field_errors: dict[str, str],
    errors: list[str],
) -> bool:
    request = {
        "name": fields["name"],
        "templateName": choice.template.name,
        "templateMajorVersion": str(choice.version.major),
        "templateMinorVersion": str(choice.version.minor),
        "spec": spec_text,
    }
    # An empty field is a member left out, as a client of the API would leave it.
    request |= {member: fields[field] for field, member in _OPTIONAL.items() if fields[field]}
    try:
        # The API's own operation; only a taken name is refused where the API would answer
        # an identical retry with what exists.
        operations.create_environment(
            visit.context("CreateEnvironment"), request, existing=ExistingName.REFUSE
        )
    except DomainError as exc:
        place_error(exc, yaml_mode, field_errors, errors)
        return False
    return True


def place_error(
    error: DomainError, yaml_mode: bool, field_errors: dict[str, str], errors: list[str]
) -> None:
    """Puts an error beside the form field its path names; an error of no field of the form
    goes to the spec (in YAML, where the spec is one field) or above the form."""
    if isinstance(error, Conflict):
        # Only the name can clash with what exists when an environment is created.
        taken = error.field == ("name",)
        field_errors["name"] = "is already taken by another environment" if taken else error.message
        return
    field = _FIELD_OF.get(error.field) if error.field else None
    if field is not None:
        field_errors[field] = error.reason
    elif yaml_mode:
        field_errors["spec"] = error.message
    else:
        errors.append(error.message)


# --- deleting -------------------------------------------------------------------------------


def delete(visit: Visit) -> Response:
    name = visit.param("name")
    if visit.request.method == "GET":
        users = fleet.environment_instances(visit.context("environment_instances"), name)
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
            ]
            + deletion_protection.delete_blockers(
                visit.context("GetDeletionProtection"), ProtectedKind.ENVIRONMENT, name
            ),
        )
    operations.delete_environment(visit.context("DeleteEnvironment"), {"name": name})
    return visit.redirect(urls.environment(name), f"Environment {name} is being deleted.")
