"""The pages every deployed resource has: its status page (live while it deploys), the spec
editor, the upgrade preview and the cancel action. Environments, service instances and
pipelines each plug in how to find their key in the URL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session
from starlette.responses import Response

from baryon.api.errors import ApiError, ConflictException, ResourceNotFoundException
from baryon.domain import deployments, versions
from baryon.domain.templates import TemplateKind
from baryon.runtime import Runtime
from baryon.store.tables import Deployment, TemplateVersion
from baryon.web import forms, members, preview, queries, resources, urls
from baryon.web.http import Handler, PortalError, Visit
from baryon.web.resources import ENVIRONMENT, ResourceKey

KeyOf = Callable[[Visit], ResourceKey]
_EVENTS_ON_RESOURCE_PAGE = 12
UPGRADES = {"minor": versions.MINOR_VERSION, "major": versions.MAJOR_VERSION}


def live_context(session: Session, runtime: Runtime, key: ResourceKey) -> dict[str, Any]:
    """Everything the live part of a resource page shows."""
    loaded = resources.load(session, key)
    row = loaded.row
    arn = key.arn(runtime.arns)
    attempted = (
        session.get(Deployment, row.last_attempted_deployment_id)
        if row.last_attempted_deployment_id
        else None
    )
    events: list[Any] = []
    if attempted is not None and attempted.status in deployments.ACTIVE:
        all_events, _ = queries.events_of(session, attempted.id)
        events = all_events[-_EVENTS_ON_RESOURCE_PAGE:]
    instances = []
    if key.kind == ENVIRONMENT:
        instances = queries.instances_with_status(session, environment_id=row.id)
    busy = loaded.busy or any(i.deployment_status in deployments.ACTIVE for i, _ in instances)
    return {
        "key": key,
        "loaded": loaded,
        "row": row,
        "template": loaded.template,
        "template_kind": TemplateKind(loaded.template.kind),
        "standing": queries.standing(
            session, loaded.template.id, row.template_major, row.template_minor
        ),
        "attempted": attempted,
        "events": events,
        "outputs": deployments.outputs_of(session, row.last_succeeded_deployment_id),
        "provisioned": queries.provisioned_resources(session, arn),
        "history": queries.deployments_of(session, arn, 10),
        "instances": instances,
        "busy": busy,
        "can_cancel": row.deployment_status == deployments.IN_PROGRESS,
        "arn": arn,
    }


def resource_page(key_of: KeyOf) -> Handler:
    def handler(visit: Visit) -> Response:
        key = key_of(visit)
        with visit.db.session() as session:
            context = live_context(session, visit.runtime, key)
        return visit.page("resource.html", **context)

    return handler


def live_fragment(key_of: KeyOf) -> Handler:
    def handler(visit: Visit) -> Response:
        key = key_of(visit)
        try:
            with visit.db.session() as session:
                context = live_context(session, visit.runtime, key)
        except ResourceNotFoundException:
            return visit.page("_gone.html", what=key.label, back=_list_url(key))
        return visit.page("_resource_live.html", **context)

    return handler


def _list_url(key: ResourceKey) -> str:
    if key.kind == ENVIRONMENT:
        return urls.environments()
    return urls.service(key.service or "")


# --- editing the spec -------------------------------------------------------------------------


def edit_page(key_of: KeyOf) -> Handler:
    """Edit the spec (a form from the schema, or YAML) and redeploy the same version."""

    def handler(visit: Visit) -> Response:
        key = key_of(visit)
        yaml_mode = (visit.form.get("mode") or visit.query("mode")) == "yaml"
        with visit.db.session() as session:
            loaded = resources.load(session, key)
        if loaded.version is None:
            raise PortalError(
                f"The deployed version {loaded.row.template_major}.{loaded.row.template_minor} "
                "was deleted, so the spec cannot be redeployed with it; upgrade instead.",
                409,
                "Not now",
            )
        form = forms.input_form(loaded.schema, loaded.input_type, prefix="input-")
        spec_text = loaded.row.spec or ""
        errors: list[str] = []
        spec_error = None
        if visit.request.method == "GET":
            forms.fill(form, loaded.raw_inputs)
        else:
            if yaml_mode:
                spec_text = visit.form.get("spec", "")
            else:
                values = forms.read(form, visit.form)
                forms.check(form, loaded.schema, values, current=loaded.row.inputs)
                spec_text = loaded.spec_with_inputs(values)
            if not form.has_errors and (not yaml_mode or spec_text.strip()):
                try:
                    with visit.db.session(write=True) as session:
                        resources.start_update(
                            session,
                            visit.runtime.arns,
                            key,
                            deployment_type=versions.CURRENT_VERSION,
                            spec=spec_text,
                            major=None,
                            minor=None,
                            now=visit.now,
                        )
                except ConflictException:
                    raise
                except ApiError as exc:
                    if yaml_mode:
                        spec_error = exc.message
                    else:
                        errors.append(exc.message)
                else:
                    visit.wakeup_workers()
                    return visit.redirect(
                        key.url(), f"The new spec of {key.label} is being deployed."
                    )
            elif yaml_mode:
                spec_error = "Enter a spec."
        return visit.page(
            "edit_spec.html",
            status=200 if visit.request.method == "GET" else 400,
            key=key,
            loaded=loaded,
            form=form,
            yaml_mode=yaml_mode,
            spec_text=spec_text,
            spec_error=spec_error,
            errors=[*errors, *form.errors],
        )

    return handler


# --- upgrades -----------------------------------------------------------------------------------


def _target(session: Session, loaded: resources.Loaded, scope: str) -> TemplateVersion:
    standing = queries.standing(
        session, loaded.template.id, loaded.row.template_major, loaded.row.template_minor
    )
    wanted = standing.minor_target if scope == "minor" else standing.major_target
    if wanted is None:
        raise PortalError(
            f"{loaded.key.title} is already on the recommended {scope} version.",
            409,
            "Nothing to upgrade",
        )
    return versions.published_version(session, loaded.template, *wanted)


def upgrade_page(key_of: KeyOf) -> Handler:
    """GET: what the upgrade will change. POST: start it, to exactly the version shown."""

    def handler(visit: Visit) -> Response:
        key = key_of(visit)
        scope = visit.param("scope")
        if scope not in UPGRADES:
            raise PortalError("An upgrade is to the recommended minor or major version.", 404)
        if visit.request.method == "POST":
            return _start_upgrade(visit, key, scope)
        with visit.db.session() as session:
            loaded = resources.load(session, key)
            target = _target(session, loaded, scope)
            shown = preview.build(session, visit.runtime, loaded, target)
        return visit.page(
            "upgrade.html", key=key, loaded=loaded, scope=scope, preview=shown, target=target
        )

    return handler


def _start_upgrade(visit: Visit, key: ResourceKey, scope: str) -> Response:
    major, minor = visit.form.get("major", ""), visit.form.get("minor", "")
    if members.version_parts(major, minor) is None:
        raise PortalError("The upgrade form is missing its version; go back and reload it.")
    with visit.db.session(write=True) as session:
        resources.start_update(
            session,
            visit.runtime.arns,
            key,
            deployment_type=UPGRADES[scope],
            spec=None,
            major=major if scope == "major" else None,
            minor=minor,
            now=visit.now,
        )
    visit.wakeup_workers()
    return visit.redirect(key.url(), f"Upgrading {key.label} to {major}.{minor}.")


def cancel(key_of: KeyOf) -> Handler:
    def handler(visit: Visit) -> Response:
        key = key_of(visit)
        with visit.db.session(write=True) as session:
            resources.start_cancel(session, key, visit.now)
        visit.wakeup_workers()
        return visit.redirect(key.url(), f"Cancelling the deployment of {key.label}.")

    return handler
