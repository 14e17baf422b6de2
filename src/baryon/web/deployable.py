"""The pages every deployed resource has: its status page (live while it deploys), the spec
editor, the upgrade preview and the cancel action. Environments, service instances and
pipelines each plug in how to find their key in the URL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from baryon.operations import deployed_resources, deployment_recovery, previews
from baryon.operations.deployed_resources import ResourceStatus, Upgrade
from baryon.operations.errors import Conflict, DomainError, Forbidden, NotFound
from baryon.web import forms, members, resources, urls
from baryon.web.drift import summary as drift_summary
from baryon.web.http import Handler, PortalError, Visit
from baryon.web.resources import ENVIRONMENT, PageKey

KeyOf = Callable[[Visit], PageKey]


def live_context(visit: Visit, key: PageKey) -> dict[str, Any]:
    """Everything the live part of a resource page shows."""
    status: ResourceStatus = deployed_resources.resource_status(
        visit.context("resource_status"), key
    )
    loaded = status.loaded
    return {
        "key": key,
        "loaded": loaded,
        "row": loaded.row,
        "template": loaded.template,
        "template_kind": status.template_kind,
        "standing": status.standing,
        "attempted": status.attempted,
        "events": status.events,
        "outputs": status.outputs,
        "provisioned": status.provisioned,
        "history": status.history,
        "instances": status.instances,
        "busy": status.busy,
        "can_cancel": status.can_cancel,
        "arn": status.arn,
        "queued": status.queued,
        "attempted_queued": status.attempted is not None and status.attempted.id in status.queued,
        "recovery": deployment_recovery.recovery_options(visit.context("recovery_options"), key),
        # The drift panel: latest check and open items (web/drift.py).
        "drift": drift_summary(visit, key),
    }


def resource_page(key_of: KeyOf) -> Handler:
    def handler(visit: Visit) -> Response:
        key = key_of(visit)
        return visit.page("resource.html", **live_context(visit, key))

    return handler


def live_fragment(key_of: KeyOf) -> Handler:
    def handler(visit: Visit) -> Response:
        key = key_of(visit)
        try:
            context = live_context(visit, key)
        except NotFound:
            return visit.page("_gone.html", what=key.label, back=_list_url(key))
        return visit.page("_resource_live.html", **context)

    return handler


def _list_url(key: PageKey) -> str:
    if key.kind == ENVIRONMENT:
        return urls.environments()
    return urls.service(key.service or "")


# --- editing the spec -------------------------------------------------------------------------


def edit_page(key_of: KeyOf) -> Handler:
    """Edit the spec (a form from the schema, or YAML) and redeploy the same version."""

    def handler(visit: Visit) -> Response:
        key = key_of(visit)
        yaml_mode = (visit.form.get("mode") or visit.query("mode")) == "yaml"
        loaded = deployed_resources.deployed_resource(visit.context("deployed_resource"), key)
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
            forms.fill(form, resources.raw_inputs(loaded))
        else:
            if yaml_mode:
                spec_text = visit.form.get("spec", "")
            else:
                values = forms.read(form, visit.form)
                forms.check(form, loaded.schema, values, current=loaded.row.inputs)
                spec_text = resources.spec_with_inputs(loaded, values)
            if not form.has_errors and (not yaml_mode or spec_text.strip()):
                try:
                    deployed_resources.redeploy_spec(visit.context("redeploy_spec"), key, spec_text)
                except (Conflict, Forbidden):
                    raise
                except DomainError as exc:
                    if yaml_mode:
                        spec_error = exc.message
                    else:
                        errors.append(exc.message)
                else:
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


def upgrade_page(key_of: KeyOf) -> Handler:
    """GET: what the upgrade will change. POST: start it, to exactly the version shown."""

    def handler(visit: Visit) -> Response:
        key = key_of(visit)
        upgrade = upgrade_of(visit.param("scope"))
        if visit.request.method == "POST":
            return _start_upgrade(visit, key, upgrade)
        found = previews.upgrade_preview(visit.context("upgrade_preview"), key, upgrade)
        if found.target is None:
            raise PortalError(
                f"{key.title} is already on the recommended {upgrade.value} version.",
                409,
                "Nothing to upgrade",
            )
        return visit.page(
            "upgrade.html",
            key=key,
            loaded=found.loaded,
            scope=upgrade.value,
            preview=found.preview,
            target=found.target,
        )

    return handler


def upgrade_of(scope: str) -> Upgrade:
    """The upgrade an address names: ``minor`` or ``major``."""
    if scope not in Upgrade.__members__.values():
        raise PortalError("An upgrade is to the recommended minor or major version.", 404)
    return Upgrade(scope)


def _start_upgrade(visit: Visit, key: PageKey, upgrade: Upgrade) -> Response:
    major, minor = visit.form.get("major", ""), visit.form.get("minor", "")
    parts = members.version_parts(major, minor)
    if parts is None:
        raise PortalError("The upgrade form is missing its version; go back and reload it.")
    deployed_resources.upgrade(visit.context("upgrade"), key, upgrade, *parts)
    return visit.redirect(key.url(), f"Upgrading {key.label} to {major}.{minor}.")


def cancel(key_of: KeyOf) -> Handler:
    def handler(visit: Visit) -> Response:
        key = key_of(visit)
        deployed_resources.cancel_deployment(visit.context("cancel_deployment"), key)
        return visit.redirect(key.url(), f"Cancelling the deployment of {key.label}.")

    return handler


# --- ways out of a failed deployment ----------------------------------------------------------


def continue_rollback(key_of: KeyOf) -> Handler:
    """ContinueUpdateRollback for the page's resource, skipping the checked resources."""

    def handler(visit: Visit) -> Response:
        key = key_of(visit)
        request = deployment_recovery.rollback_request(key, visit.form.all("skip"))
        try:
            deployment_recovery.continue_update_rollback(
                visit.context("ContinueUpdateRollback"), request
            )
        except Forbidden:
            raise  # the 403 page, not a note on this one
        except DomainError as error:
            return visit.redirect(key.url(), error.message)
        return visit.redirect(key.url(), f"Continuing the rollback of {key.label}.")

    return handler


def retry(key_of: KeyOf) -> Handler:
    """RetryDeployment of the deployment the form names (the page's failed one)."""

    def handler(visit: Visit) -> Response:
        key = key_of(visit)
        try:
            deployment_recovery.retry_deployment(
                visit.context("RetryDeployment"), {"id": visit.form.get("deployment", "")}
            )
        except Forbidden:
            raise
        except DomainError as error:
            return visit.redirect(key.url(), error.message)
        return visit.redirect(key.url(), f"Retrying the failed deployment of {key.label}.")

    return handler
