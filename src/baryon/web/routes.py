"""The portal's routes, mounted at /portal in the one ASGI app (app.py)."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.staticfiles import StaticFiles

from baryon.runtime import Runtime
from baryon.web import (
    approvals,
    audit,
    catalog,
    deployable,
    deployments,
    drift,
    environments,
    fleet,
    lists,
    oidc,
    overview,
    people,
    previews,
    regions,
    repositories,
    rollbacks,
    rollouts,
    services,
    signin,
    sync_panels,
)
from baryon.web.http import Handler, not_found_endpoint, page
from baryon.web.pages import STATIC_DIR, create_jinja

GET, POST, BOTH = ["GET"], ["POST"], ["GET", "POST"]


def _resource_routes(
    base: str, key_of: deployable.KeyOf
) -> list[tuple[str, Handler, list[str], bool]]:
    return [
        (base, deployable.resource_page(key_of), GET, False),
        (f"{base}/live", deployable.live_fragment(key_of), GET, True),
        (f"{base}/edit", deployable.edit_page(key_of), BOTH, False),
        (f"{base}/upgrade/{{scope}}", deployable.upgrade_page(key_of), BOTH, False),
        (f"{base}/cancel", deployable.cancel(key_of), POST, False),
        (f"{base}/continue-rollback", deployable.continue_rollback(key_of), POST, False),
        (f"{base}/retry", deployable.retry(key_of), POST, False),
        (f"{base}/rollback", rollbacks.rollback_page(key_of), BOTH, False),
        (f"{base}/drift", drift.drift_page(key_of), BOTH, False),
    ]


def portal_app(runtime: Runtime) -> Router:
    jinja = create_jinja()
    pages: list[tuple[str, Handler, list[str], bool]] = [
        ("/", overview.home, GET, False),
        ("/live/overview", overview.live, GET, True),
        ("/sign-out", signin.sign_out, POST, False),
        ("/region", regions.choose, POST, False),
        ("/templates", catalog.index, GET, False),
        ("/templates/{kind}/{name}", catalog.template_page, GET, False),
        ("/templates/{kind}/{name}/{version}", catalog.version_page, GET, False),
        ("/environments", environments.index, GET, False),
        ("/live/environments", environments.live_index, GET, True),
        ("/new/environment", environments.new, BOTH, False),
        *_resource_routes("/environments/{name}", environments.environment_key),
        ("/environments/{name}/delete", environments.delete, BOTH, False),
        ("/instances", lists.instances, GET, False),
        ("/live/instances", lists.live_instances, GET, True),
        ("/resources", lists.resources, GET, False),
        ("/live/resources", lists.live_resources, GET, True),
        ("/services", services.index, GET, False),
        ("/live/services", services.live_index, GET, True),
        ("/new/service", services.new, BOTH, False),
        ("/services/{service}", services.service_page, GET, False),
        ("/services/{service}/live", services.service_live, GET, True),
        ("/services/{service}/edit", services.edit, BOTH, False),
        ("/services/{service}/delete", services.delete, BOTH, False),
        (
            "/services/{service}/sync-blockers/{blocker}/resolve",
            sync_panels.resolve_blocker,
            BOTH,
            False,
        ),
        *_resource_routes("/services/{service}/instances/{name}", services.instance_key),
        *_resource_routes("/services/{service}/pipeline", services.pipeline_key),
        ("/deployments", deployments.index, GET, False),
        ("/deployments/{id}", deployments.deployment_page, GET, False),
        ("/deployments/{id}/live", deployments.deployment_live, GET, True),
        ("/fleet", fleet.index, GET, False),
        ("/live/fleet", fleet.live, GET, True),
        ("/fleet/{kind}/{name}/upgrade/{scope}", fleet.upgrade, BOTH, False),
        ("/previews", previews.index, GET, False),
        ("/previews/{id}", previews.preview_page, GET, False),
        ("/previews/{id}/approve", previews.approve, POST, False),
        ("/repositories", repositories.index, BOTH, False),
        ("/repositories/{provider}/{name:path}", repositories.repository_page, GET, False),
        ("/audit", audit.index, GET, False),
        ("/drift", drift.index, BOTH, False),
        ("/rollouts", rollouts.index, GET, False),
        ("/rollouts/{id}", rollouts.rollout_page, GET, False),
        ("/rollouts/{id}/live", rollouts.rollout_live, GET, True),
        ("/rollouts/{id}/rollback", rollouts.rollback_preview, GET, False),
        ("/rollouts/{id}/{action}", rollouts.act, POST, False),
        ("/approvals", approvals.index, GET, False),
        ("/approvals/{id}", approvals.approval_page, GET, False),
        ("/approvals/{id}/approve", approvals.approve, POST, False),
        ("/approvals/{id}/reject", approvals.reject, POST, False),
        ("/people", people.index, GET, False),
        ("/people/teams", people.create_team, POST, False),
        ("/people/members", people.add_member, POST, False),
        ("/people/members/remove", people.remove_member, POST, False),
        ("/people/grants", people.grant_role, POST, False),
        ("/people/grants/revoke", people.revoke_role, POST, False),
    ]
    routes: list[BaseRoute] = [
        Route("/sign-in", page(runtime, jinja, signin.show, public=True), methods=GET),
        Route("/sign-in", page(runtime, jinja, signin.submit, public=True), methods=POST),
        Route("/oidc/start", page(runtime, jinja, oidc.start, public=True), methods=GET),
        Route("/oidc/callback", page(runtime, jinja, oidc.callback, public=True), methods=GET),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    routes += [
        Route(path, page(runtime, jinja, handler, fragment=fragment), methods=methods)
        for path, handler, methods, fragment in pages
    ]
    return Router(routes, default=not_found_endpoint(jinja))
