"""The portal's rollback of a resource: a preview page (what goes back, what cannot be undone)
whose confirm button starts exactly the rollback shown (its token), through the same
operations as the API's PreviewRollback and RollbackResource."""

from __future__ import annotations

from starlette.responses import Response

from baryon.operations import rollbacks
from baryon.operations.errors import DomainError, Forbidden
from baryon.web.deployable import KeyOf
from baryon.web.http import Handler, Visit


def rollback_page(key_of: KeyOf) -> Handler:
    """GET: the rollback's preview. POST: start it, from the preview's token."""

    def handler(visit: Visit) -> Response:
        key = key_of(visit)
        if visit.request.method == "POST":
            request = {**rollbacks.request_of(key), "previewToken": visit.form.get("token", "")}
            try:
                started = rollbacks.rollback_resource(visit.context("RollbackResource"), request)[
                    "rollback"
                ]
            except Forbidden:
                raise  # the 403 page, not a note on this one
            except DomainError as error:
                return visit.redirect(key.url("rollback"), error.message)
            return visit.redirect(
                key.url(),
                f"Rolling {key.label} back: deployment {started['deployment']['id'][:8]} "
                f"takes back {started['reversesDeploymentId'][:8]}.",
            )
        found = rollbacks.preview_rollback(visit.context("PreviewRollback"), key)
        return visit.page("rollback.html", key=key, found=found)

    return handler
