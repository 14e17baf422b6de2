"""Services: the list, a service with its instances and pipeline, creating one (any number of
instances, each in an environment), changing which instances it has, and deleting it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from starlette.responses import Response

from baryon.operations import (
    catalog,
    creation_previews,
    deletion_protection,
    fleet,
    resource_lists,
    service_overview,
    spec_documents,
)
from baryon.operations import services as operations
from baryon.operations.catalog import CreateChoice, TemplateKind
from baryon.operations.deletion_protection import ProtectedKind
from baryon.operations.errors import Conflict, DomainError, NotFound
from baryon.operations.existing_names import ExistingName
from baryon.web import forms, lists, members, resources, sync_panels, urls
from baryon.web.environments import chosen_version
from baryon.web.http import PortalError, Visit

MAX_INSTANCES = 20
_REPOSITORY = (
    ("repositoryConnectionArn", "Repository connection ARN"),
    ("repositoryId", "Repository (owner/name)"),
    ("branchName", "Branch"),
)


def instance_key(visit: Visit) -> resources.PageKey:
    return resources.instance_key(visit.param("service"), visit.param("name"))


def pipeline_key(visit: Visit) -> resources.PageKey:
    return resources.pipeline_key(visit.param("service"))


def _list(visit: Visit, template_file: str) -> Response:
    found = resource_lists.list_services(
        visit.context("list_services"), lists.service_filters(visit), visit.query("after") or None
    )
    shown = lists.active_filters(visit, lists.SERVICE_FILTERS)
    return visit.page(
        template_file,
        rows=found.rows,
        busy=found.busy,
        **lists.paging(visit, urls.services, "services", shown, found.next_token),
    )


def index(visit: Visit) -> Response:
    return _list(visit, "services.html")


def live_index(visit: Visit) -> Response:
    return _list(visit, "_services_live.html")


# --- one service ----------------------------------------------------------------------------


def _service_context(visit: Visit, name: str) -> dict[str, Any]:
    detail = service_overview.service_detail(visit.context("service_detail"), name)
    return {
        "service": detail.service,
        "template": detail.template,
        "instances": detail.instances,
        "pipeline": detail.pipeline,
        "pipeline_standing": detail.pipeline_standing,
        "history": detail.history,
        "busy": detail.busy,
        "can_change": detail.can_change,
    }


def service_page(visit: Visit) -> Response:
    context = _service_context(visit, visit.param("service"))
    names = [instance.name for instance, _ in context["instances"]]
    sync = sync_panels.service_sync_panel(visit, context["service"].name, names)
    return visit.page("service.html", **context, sync=sync)


def service_live(visit: Visit) -> Response:
    name = visit.param("service")
    try:
        context = _service_context(visit, name)
    except NotFound:
        return visit.page("_gone.html", what=f"service {name}", back=urls.services())
    return visit.page("_service_live.html", **context)


# --- creating -------------------------------------------------------------------------------


@dataclass
class InstanceForm:
    index: int
    name: str = ""
    environment: str = ""
    inputs: forms.InputForm | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return f"instance-{self.index}-"


def _instance_forms(schema: Any, count: int) -> list[InstanceForm]:
    result = []
    for index in range(count):
        entry = InstanceForm(index)
        entry.inputs = forms.input_form(schema, schema.service_input_type, f"{entry.prefix}input-")
        result.append(entry)
    return result


def _starter_spec(schema: Any, with_pipeline: bool, environment: str) -> str:
    def defaults(type_name: str | None) -> dict[str, Any]:
        form = forms.input_form(schema, type_name, prefix="")
        return {f.name: f.default for f in form.fields if f.has_default}

    return spec_documents.service_spec(
        defaults(schema.pipeline_input_type) if with_pipeline else None,
        [("instance-1", environment or "ENVIRONMENT-NAME", defaults(schema.service_input_type))],
    )


class CreateStep(StrEnum):
    """The pages of the service create flow after choosing the template (step 1)."""

    DETAILS = "details"  # name, repository, instances and their environments (or the YAML)
    INPUTS = "inputs"  # each instance's inputs and the pipeline's
    REVIEW = "review"  # the spec and what it deploys; nothing exists before "create"


def new(visit: Visit) -> Response:
    template_name = visit.query("template") or visit.form.get("template", "")
    number = visit.query("version") or visit.form.get("version", "")
    if not template_name:
        rows = [
            r
            for r in catalog.catalog(visit.context("catalog"))
            if r.template.kind == TemplateKind.SERVICE.value and r.published
        ]
        return visit.page(
            "choose_template.html", rows=rows, what="service", new_url=urls.new_service
        )
    choice = chosen_version(visit, TemplateKind.SERVICE, template_name, number)
    template, version, published = choice.template, choice.version, choice.published
    schema, with_pipeline = choice.schema, choice.with_pipeline
    environments = [e for e in choice.environments if creation_previews.takes_instances(e)]
    left_out = [e for e in choice.environments if not creation_previews.takes_instances(e)]
    yaml_mode = (visit.form.get("mode") or visit.query("mode")) == "yaml"
    action = visit.form.get("action", "create")
    step = _step(visit.form.get("step", CreateStep.DETAILS))
    count = _count(visit.form.get("instances", "1"))
    if action == "add":
        count = min(count + 1, MAX_INSTANCES)
    removed = int(action.split("-", 1)[1]) if re.fullmatch(r"remove-\d+", action) else None
    pipeline_form = forms.input_form(
        schema, schema.pipeline_input_type if with_pipeline else None, "pipeline-input-"
    )
    instance_forms = _instance_forms(schema, count)
    fields = {"name": "", "description": "", **{key: "" for key, _ in _REPOSITORY}}
    field_errors: dict[str, str] = {}
    errors: list[str] = []
    offered = [e.name for e in environments]
    refused = [e.name for e in left_out]  # they exist, but cannot take an instance now
    spec_text = _starter_spec(schema, with_pipeline, offered[0] if offered else "")
    instances: list[tuple[InstanceForm, dict[str, Any]]] = []
    if visit.request.method == "GET":
        forms.fill(pipeline_form, None)
        for entry in instance_forms:
            assert entry.inputs is not None
            forms.fill(entry.inputs, None)
            entry.name = f"instance-{entry.index + 1}"
            entry.environment = offered[0] if len(offered) == 1 else ""
    else:
        fields = {k: visit.form.get(k, "").strip() for k in fields}
        if yaml_mode:
            spec_text = visit.form.get("spec", spec_text)
        if "pipeline-input-" + next((f.name for f in pipeline_form.fields), "") in visit.form:
            pipeline_values = forms.read(pipeline_form, visit.form)
        else:
            forms.fill(pipeline_form, None)
            pipeline_values = {}
        for entry in instance_forms:
            assert entry.inputs is not None
            if f"{entry.prefix}name" not in visit.form:  # just added: start from the defaults
                forms.fill(entry.inputs, None)
                entry.name = f"instance-{entry.index + 1}"
                entry.environment = offered[0] if len(offered) == 1 else ""
                instances.append((entry, {}))
                continue
            entry.name = visit.form.get(f"{entry.prefix}name", "").strip()
            entry.environment = visit.form.get(f"{entry.prefix}environment", "")
            if any(f.key in visit.form for f in entry.inputs.fields):
                instances.append((entry, forms.read(entry.inputs, visit.form)))
            else:  # its inputs' page was not reached yet
                forms.fill(entry.inputs, None)
                instances.append((entry, {}))
        if removed is not None and count > 1:
            instances = [item for item in instances if item[0].index != removed]
            instance_forms = _renumber([entry for entry, _ in instances], schema, visit)
            instances = [(entry, {}) for entry in instance_forms]
            count -= 1
        if action == "back":
            step = _previous(step, yaml_mode)
        elif action == "next":
            _check_details(
                fields, with_pipeline, yaml_mode, spec_text, instances, refused, field_errors
            )
            invalid = bool(field_errors) or any(entry.errors for entry, _ in instances)
            if step is CreateStep.INPUTS and not invalid:
                _check_inputs(schema, pipeline_form, pipeline_values, instances)
                invalid = _inputs_invalid(pipeline_form, instances)
            if not invalid:
                step = _following(step, yaml_mode)
        elif action == "create":
            if not yaml_mode:
                spec_text = _spec(with_pipeline, pipeline_values, instances)
            created = _create(
                visit,
                choice,
                with_pipeline,
                yaml_mode,
                fields,
                field_errors,
                errors,
                pipeline_form,
                pipeline_values,
                instances,
                spec_text,
                refused,
            )
            if created:
                return visit.redirect(
                    urls.service(fields["name"]),
                    f"Service {fields['name']} is being created from {template.name} "
                    f"{version.major}.{version.minor}.",
                )
            step = _step_of_errors(field_errors, instances, pipeline_form, yaml_mode)
    preview = None
    if step is CreateStep.REVIEW:
        if not yaml_mode:
            spec_text = _spec(with_pipeline, pipeline_values, instances)
        repository = creation_previews.Repository(
            fields["repositoryConnectionArn"] or None,
            fields["repositoryId"] or None,
            fields["branchName"] or None,
        )
        preview = creation_previews.preview_creation(
            visit.context("preview_creation"), version.id, fields["name"], spec_text, repository
        )
    failed = (
        visit.request.method == "POST"
        and action in ("create", "next")
        and (
            field_errors
            or errors
            or any(entry.errors for entry, _ in instances)
            or _inputs_invalid(pipeline_form, instances)
        )
    )
    return visit.page(
        "service_new.html",
        status=400 if failed else 200,
        template=template,
        version=version,
        published=published,
        environments=environments,
        left_out=left_out,
        with_pipeline=with_pipeline,
        repository=_REPOSITORY,
        pipeline_form=pipeline_form,
        instance_forms=instance_forms,
        fields=fields,
        field_errors=field_errors,
        errors=[*errors, *pipeline_form.errors],
        yaml_mode=yaml_mode,
        spec_text=spec_text,
        max_instances=MAX_INSTANCES,
        step=step,
        steps=_STEPS_YAML if yaml_mode else _STEPS_FORM,
        preview=preview,
    )


_STEPS_FORM = {
    CreateStep.DETAILS: "Name and environments",
    CreateStep.INPUTS: "Inputs",
    CreateStep.REVIEW: "Review",
}
_STEPS_YAML = {CreateStep.DETAILS: "Name and spec", CreateStep.REVIEW: "Review"}


def _step(text: str) -> CreateStep:
    if text not in CreateStep.__members__.values():
        raise PortalError(f"'{text[:40]}' is not a step of this form.")
    return CreateStep(text)


def _following(step: CreateStep, yaml_mode: bool) -> CreateStep:
    order = list(_STEPS_YAML if yaml_mode else _STEPS_FORM)
    return order[min(order.index(step) + 1, len(order) - 1)] if step in order else order[0]


def _previous(step: CreateStep, yaml_mode: bool) -> CreateStep:
    order = list(_STEPS_YAML if yaml_mode else _STEPS_FORM)
    return order[max(order.index(step) - 1, 0)] if step in order else order[0]


def _step_of_errors(
    field_errors: dict[str, str],
    instances: list[tuple[InstanceForm, dict[str, Any]]],
    pipeline_form: forms.InputForm,
    yaml_mode: bool,
) -> CreateStep:
    """The page that shows what a failed create has to say."""
    if field_errors or any(entry.errors for entry, _ in instances):
        return CreateStep.DETAILS
    return CreateStep.DETAILS if yaml_mode else CreateStep.INPUTS


def _spec(
    with_pipeline: bool,
    pipeline_values: dict[str, Any],
    instances: list[tuple[InstanceForm, dict[str, Any]]],
) -> str:
    return spec_documents.service_spec(
        pipeline_values if with_pipeline else None,
        [(entry.name, entry.environment, values) for entry, values in instances],
    )


def _count(text: str) -> int:
    return max(1, min(int(text), MAX_INSTANCES)) if text.isdigit() else 1


def _renumber(kept: list[InstanceForm], schema: Any, visit: Visit) -> list[InstanceForm]:
    """After a removal the remaining instances move up, keeping what was typed in them."""
    result = []
    for position, old in enumerate(kept):
        entry = InstanceForm(position, old.name, old.environment)
        entry.inputs = forms.input_form(schema, schema.service_input_type, f"{entry.prefix}input-")
        assert old.inputs is not None
        submitted = {
            f"{entry.prefix}input-{f.name}": visit.form.get(f.key, "") for f in old.inputs.fields
        }
        forms.read(entry.inputs, submitted)
        result.append(entry)
    return result


def _check_details(
    fields: dict[str, str],
    with_pipeline: bool,
    yaml_mode: bool,
    spec_text: str,
    instances: list[tuple[InstanceForm, dict[str, Any]]],
    refused: list[str],
    field_errors: dict[str, str],
) -> None:
    """The service's own fields and each instance's name and environment."""
    for member in ("name", "description"):
        problem = members.problem(
            "CreateService", member, fields[member], required=member == "name"
        )
        if problem:
            field_errors[member] = problem
    if with_pipeline:
        for member, _ in _REPOSITORY:
            problem = members.problem("CreateService", member, fields[member])
            if problem:
                field_errors[member] = problem
    if yaml_mode:
        if not spec_text.strip():
            field_errors["spec"] = "Enter a spec."
        return
    seen: set[str] = set()
    for entry, _ in instances:
        problem = members.problem("CreateServiceInstance", "name", entry.name)
        if problem is None and entry.name in seen:
            problem = "is used by another instance of this service"
        if problem:
            entry.errors["name"] = problem
        seen.add(entry.name)
        if not entry.environment:
            entry.errors["environment"] = "choose the environment this instance runs in"
        elif entry.environment in refused:
            entry.errors["environment"] = (
                f"{entry.environment} cannot take instances now: choose a deployed environment"
            )


def _check_inputs(
    schema: Any,
    pipeline_form: forms.InputForm,
    pipeline_values: dict[str, Any],
    instances: list[tuple[InstanceForm, dict[str, Any]]],
) -> None:
    forms.check(pipeline_form, schema, pipeline_values)
    for entry, values in instances:
        assert entry.inputs is not None
        forms.check(entry.inputs, schema, values)


def _inputs_invalid(
    pipeline_form: forms.InputForm, instances: list[tuple[InstanceForm, dict[str, Any]]]
) -> bool:
    return pipeline_form.has_errors or any(
        entry.inputs is not None and entry.inputs.has_errors for entry, _ in instances
    )


def _create(
    visit: Visit,
    choice: CreateChoice,
    with_pipeline: bool,
    yaml_mode: bool,
    fields: dict[str, str],
    field_errors: dict[str, str],
    errors: list[str],
    pipeline_form: forms.InputForm,
    pipeline_values: dict[str, Any],
    instances: list[tuple[InstanceForm, dict[str, Any]]],
    spec_text: str,
    refused: list[str],
) -> bool:
    _check_details(fields, with_pipeline, yaml_mode, spec_text, instances, refused, field_errors)
    if not yaml_mode:
        _check_inputs(choice.schema, pipeline_form, pipeline_values, instances)
    invalid = (
        field_errors
        or _inputs_invalid(pipeline_form, instances)
        or any(entry.errors for entry, _ in instances)
    )
    if invalid:
        return False
    request = {
        "name": fields["name"],
        "templateName": choice.template.name,
        "templateMajorVersion": str(choice.version.major),
        "templateMinorVersion": str(choice.version.minor),
        "spec": spec_text,
    }
    # An empty field is a member left out, as a client of the API would leave it; only a
    # service with a pipeline has a repository.
    optional = ["description", *(key for key, _ in _REPOSITORY if with_pipeline)]
    request |= {member: fields[member] for member in optional if fields[member]}
    try:
        # The API's own operation; only a taken name is refused where the API would answer
        # an identical retry with what exists.
        operations.create_service(
            visit.context("CreateService"), request, existing=ExistingName.REFUSE
        )
    except DomainError as exc:
        place_error(exc, yaml_mode, instances, field_errors, errors)
        return False
    return True


def place_error(
    error: DomainError,
    yaml_mode: bool,
    instances: list[tuple[InstanceForm, dict[str, Any]]],
    field_errors: dict[str, str],
    errors: list[str],
) -> None:
    """Puts an error beside the field its path names: the service's name, or an instance's
    name or environment; anything else goes to the spec (in YAML) or above the form. A
    conflict is about what exists now, not about the spec: above the form, unless the name."""
    if isinstance(error, Conflict):
        if error.field == ("name",):
            field_errors["name"] = "is already taken by another service"
        else:
            errors.append(error.message)
        return
    if yaml_mode:
        field_errors["spec"] = error.message
        return
    match error.field:
        case ("instances", int(index), ("name" | "environment") as member):
            for entry, _ in instances:
                if entry.index == index:
                    entry.errors[member] = error.reason
                    return
    errors.append(error.message)


# --- changing the instances, deleting -------------------------------------------------------


def edit(visit: Visit) -> Response:
    """UpdateService: the spec's instance list decides which instances exist."""
    name = visit.param("service")
    service = service_overview.service_detail(visit.context("service_detail"), name).service
    environments = [
        row for row, _ in fleet.environments_with_status(visit.context("environments_with_status"))
    ]
    spec_text = service.spec
    spec_error = None
    if visit.request.method == "POST":
        spec_text = visit.form.get("spec", "")
        if not spec_text.strip():
            spec_error = "Enter a spec."
        else:
            try:
                operations.update_service(
                    visit.context("UpdateService"), {"name": name, "spec": spec_text}
                )
            except Conflict:
                raise
            except DomainError as exc:
                spec_error = exc.message
            else:
                return visit.redirect(urls.service(name), f"Service {name} is being updated.")
    return visit.page(
        "service_edit.html",
        status=200 if visit.request.method == "GET" else 400,
        service=service,
        environments=environments,
        spec_text=spec_text,
        spec_error=spec_error,
    )


def delete(visit: Visit) -> Response:
    name = visit.param("service")
    if visit.request.method == "GET":
        detail = service_overview.service_detail(visit.context("service_detail"), name)
        instances = [instance for instance, _ in detail.instances]
        pipeline = detail.pipeline
        consequences = [
            f"Its {len(instances)} instance(s) ({', '.join(i.name for i in instances) or 'none'})"
            " and their stacks are deleted.",
        ]
        if pipeline is not None:
            consequences.append("Its pipeline and the pipeline's stack are deleted.")
        consequences.append("Its deployment history stays, as in Proton.")
        return visit.page(
            "confirm_delete.html",
            what=f"service {name}",
            back=urls.service(name),
            action=urls.service(name, "delete"),
            consequences=consequences,
            blockers=deletion_protection.delete_blockers(
                visit.context("GetDeletionProtection"), ProtectedKind.SERVICE, name
            ),
        )
    operations.delete_service(visit.context("DeleteService"), {"name": name})
    try:
        operations.get_service(visit.context("GetService"), {"name": name})
    except NotFound:  # nothing was deployed, so nothing had to be destroyed first
        return visit.redirect(urls.services(), f"Service {name} was deleted.")
    return visit.redirect(urls.service(name), f"Service {name} is being deleted.")
