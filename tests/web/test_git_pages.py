"""The portal's git pages on an in-process app: repositories and their connections (never a
secret), registering a repository through the API's own operation with errors beside their
fields, a repository's sync attempts and events, and a self-managed deployment's pull
request with what Baryon waits for."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from baryon.domain import sync_attempts
from baryon.domain.git import PullRequestStatus, SyncScope
from baryon.operations import (
    connections,
    in_process,
    repositories,
    service_sync,
    template_sync,
)
from baryon.runtime import Runtime
from baryon.service_models import proton
from baryon.store.tables import Deployment, PullRequestRow, Repository, SyncBlockerRow
from tests.support.principals import ADMIN
from tests.web.conftest import ROLE, Portal, finish

ENV_URL = "/portal/new/environment?template=network&version=1.0"
SVC_URL = "/portal/new/service?template=webapp&version=1.0"
TOKEN = "ghp_the-connections-secret-token"
WEBHOOK_SECRET = "the-webhook-secret"


def _error(page: str, field: str) -> str | None:
    match = re.search(
        rf'id="{re.escape(field)}-error"><span class="visually-hidden">Error: </span>([^<]*)<',
        page,
    )
    return match.group(1) if match else None


def _git_connection(runtime: Runtime, name: str = "forge") -> str:
    ctx = in_process.context(runtime, "test", "CreateConnection", principal=ADMIN)
    created = connections.create_connection(
        ctx,
        {
            "name": name,
            "provider": "GIT",  # type: ignore[typeddict-item]
            "baseUrl": "https://git.example.com/",
            "token": TOKEN,
            "webhookSecret": WEBHOOK_SECRET,
        },
    )
    return created["connection"]["arn"]


def _repositories(portal: Portal) -> int:
    with portal.runtime.db.session() as session:
        return session.scalar(select(func.count()).select_from(Repository)) or 0


def _register(portal: Portal, name: str, connection: str, provider: str = "GITHUB") -> object:
    return portal.post(
        "/portal/repositories", {"name": name, "provider": provider, "connection": connection}
    )


def test_the_repositories_page_shows_connections_without_their_secrets(signed_in: Portal) -> None:
    _git_connection(signed_in.runtime)
    page = signed_in.client.get("/portal/repositories")
    assert page.status_code == 200
    connections_table = page.text.split('id="connections"', 1)[1]
    assert '<th scope="row">forge</th>' in connections_table
    assert "https://git.example.com/" in connections_table
    assert "<td>token</td>" in connections_table  # the kind of credentials, in words
    assert "/_baryon/git/webhooks/forge" in connections_table
    assert "Baryon's own git server" in connections_table  # the hosted connection
    assert TOKEN not in page.text and WEBHOOK_SECRET not in page.text
    assert 'href="/portal/repositories" aria-current="page"' in page.text


def test_a_repository_is_registered_through_the_api_operation(signed_in: Portal) -> None:
    arn = _git_connection(signed_in.runtime)
    response = _register(signed_in, "acme/templates", arn)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/portal/repositories/github/acme/templates"
    page = signed_in.client.get(response.headers["location"])
    assert page.status_code == 200
    assert "Repository acme/templates is registered." in page.text
    assert "forge" in page.text and "No sync attempts yet." in page.text
    listed = signed_in.client.get("/portal/repositories").text
    assert 'href="/portal/repositories/github/acme/templates">acme/templates</a>' in listed
    with signed_in.runtime.db.session() as session:
        row = session.scalars(select(Repository)).one()
        assert (row.provider, row.name, row.connection_arn) == ("GITHUB", "acme/templates", arn)


def test_wrong_register_input_is_shown_beside_its_field_and_registers_nothing(
    signed_in: Portal,
) -> None:
    arn = _git_connection(signed_in.runtime)
    bad = _register(signed_in, "no-slash", "", provider="GITLAB")
    assert bad.status_code == 400
    assert _error(bad.text, "name") == "must be owner/name, such as my-org/templates"
    assert _error(bad.text, "connection") == "is required"
    assert (_error(bad.text, "provider") or "").startswith("must be one of GITHUB")
    assert 'value="no-slash"' in bad.text  # what was typed is kept
    assert 'class="error-summary"' in bad.text
    missing = arn.replace("connection/", "connection/0")
    gone = _register(signed_in, "acme/templates", missing)
    assert "was not found" in (_error(gone.text, "connection") or "")
    # A rule of the domain rather than of the model: the name's parts.
    dots = _register(signed_in, "acme/..", arn)
    assert "is not a repository name" in (_error(dots.text, "name") or "")
    assert _repositories(signed_in) == 0
    assert _register(signed_in, "acme/templates", arn).status_code == 303
    again = _register(signed_in, "acme/templates", arn)
    assert again.status_code == 400
    assert "already registered" in (_error(again.text, "name") or "")
    assert _repositories(signed_in) == 1


def test_a_repository_on_baryons_own_server_shows_where_to_push(signed_in: Portal) -> None:
    signed_in.client.get("/portal/repositories")  # ListConnections makes the hosted one
    hosted = signed_in.runtime.arns.connection("baryon")
    assert _register(signed_in, "acme/infra", hosted).status_code == 303
    clone = "http://portal.test/git/acme/infra.git"
    assert clone in signed_in.client.get("/portal/repositories").text
    page = signed_in.client.get("/portal/repositories/github/acme/infra").text
    assert f'id="clone-url">{clone}</code>' in page


def test_a_repository_page_shows_its_sync_attempts_newest_first(signed_in: Portal) -> None:
    arn = _git_connection(signed_in.runtime)
    assert _register(signed_in, "acme/a_b", arn).status_code == 303
    assert _register(signed_in, "acme/axb", arn).status_code == 303
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with signed_in.runtime.db.session(write=True) as session:
        for minute, (name, branch, status) in enumerate(
            [
                ("acme/a_b", "main", proton.RepositorySyncStatus.SUCCEEDED),
                ("acme/axb", "other-repo", proton.RepositorySyncStatus.SUCCEEDED),
                ("acme/a_b", "release", proton.RepositorySyncStatus.FAILED),
            ]
        ):
            now = start + timedelta(minutes=minute)
            row = sync_attempts.start(
                session,
                proton.SyncType.TEMPLATE_SYNC,
                SyncScope.REPOSITORY,
                f"GITHUB/{name}@{branch}",
                now,
            )
            sync_attempts.add_event(row, "Fetched <b>main</b> & more", "FETCH", now)
            sync_attempts.add_event(row, f"Ended on {branch}", "END", now, status=status)
    page = signed_in.client.get("/portal/repositories/github/acme/a_b").text
    attempts = page.split("<h2>Sync attempts</h2>", 1)[1]
    newest, oldest = "branch <code>release</code>", "branch <code>main</code>"
    assert attempts.index(newest) < attempts.index(oldest)
    assert "other-repo" not in attempts  # a name that only matches as a LIKE pattern
    assert "Fetched &lt;b&gt;main&lt;/b&gt; &amp; more" in attempts
    assert "<b>main</b>" not in attempts
    assert '<span class="status status-bad">failed</span>' in attempts
    assert "2026-03-01 12:02:00 UTC" in attempts


def test_unknown_repositories_and_providers_are_not_found(signed_in: Portal) -> None:
    for path in (
        "/portal/repositories/github/acme/nothing",
        "/portal/repositories/codecommit/acme/templates",
        "/portal/repositories/github/no-owner",
    ):
        response = signed_in.client.get(path)
        assert response.status_code == 404, path
        assert "Not found" in response.text


# --- a self-managed deployment's pull request --------------------------------------------------


def _deployment_in_progress(portal: Portal) -> str:
    response = portal.post(
        ENV_URL,
        {
            "mode": "form",
            "name": "dev",
            "role": ROLE,
            "input-vpc_cidr": "10.0.0.0/16",
            "input-size": "small",
        },
    )
    assert response.status_code == 303, response.text
    with portal.runtime.db.session() as session:
        return session.scalars(select(Deployment.id)).one()


def _pull_request(
    portal: Portal, deployment_id: str, *, number: int | None, url: str | None
) -> None:
    now = datetime.now(UTC)
    with portal.runtime.db.session(write=True) as session:
        session.add(
            PullRequestRow(
                deployment_id=deployment_id,
                resource_arn="arn:aws:proton:us-east-1:111122223333:environment/dev",
                repository_provider="GITHUB",
                repository_name="acme/infra",
                base_branch="main",
                head_branch="proton/dev-1",
                head_sha="a" * 40,
                number=number,
                url=url,
                state=PullRequestStatus.OPEN,
                opened_at=now,
            )
        )


def _set_state(portal: Portal, state: PullRequestStatus, **times: datetime) -> None:
    with portal.runtime.db.session(write=True) as session:
        row = session.scalars(select(PullRequestRow)).one()
        row.state = state
        for key, value in times.items():
            setattr(row, key, value)


def test_a_self_managed_deployment_shows_its_pull_request_and_what_baryon_waits_for(
    signed_in: Portal,
) -> None:
    deployment_id = _deployment_in_progress(signed_in)
    page_url = f"/portal/deployments/{deployment_id}"
    assert 'id="pull-request"' not in signed_in.client.get(page_url).text
    _pull_request(signed_in, deployment_id, number=7, url="https://github.com/acme/infra/pull/7")
    page = signed_in.client.get(page_url).text
    assert 'href="https://github.com/acme/infra/pull/7" id="pull-request-link">#7</a>' in page
    assert '<span class="status status-busy">open</span>' in page
    assert "Baryon waits for the pull request to be merged." in page
    _set_state(signed_in, PullRequestStatus.MERGED, merged_at=datetime.now(UTC))
    live = signed_in.client.get(f"{page_url}/live").text  # the live region follows it
    assert '<span class="status status-good">merged</span>' in live
    assert (
        "Baryon waits for the provisioning pipeline to report with "
        "notify-resource-deployment-status-change." in live
    )
    with signed_in.runtime.db.session(write=True) as session:
        deployment = session.get(Deployment, deployment_id)
        assert deployment is not None
        deployment.status = "CANCELLING"  # the watcher closes the pull request: no wait
    assert 'id="waiting-for"' not in signed_in.client.get(page_url).text
    _set_state(signed_in, PullRequestStatus.CLOSED, closed_at=datetime.now(UTC))
    closed = signed_in.client.get(page_url).text
    assert '<span class="status status-bad">closed</span>' in closed
    assert 'id="waiting-for"' not in closed


def test_a_pushed_branch_on_plain_git_is_shown_instead_of_a_pull_request(
    signed_in: Portal,
) -> None:
    deployment_id = _deployment_in_progress(signed_in)
    _pull_request(signed_in, deployment_id, number=None, url=None)
    page = signed_in.client.get(f"/portal/deployments/{deployment_id}").text
    assert "<h2>Pushed branch</h2>" in page
    assert "Baryon waits for the branch proton/dev-1 to be merged into main." in page


def test_a_pull_request_address_that_is_not_a_web_address_is_not_linked(
    signed_in: Portal,
) -> None:
    deployment_id = _deployment_in_progress(signed_in)
    _pull_request(signed_in, deployment_id, number=3, url="javascript:alert(1)")
    page = signed_in.client.get(f"/portal/deployments/{deployment_id}").text
    assert "javascript:" not in page and "#3 in <code>acme/infra</code>" in page


def test_an_ended_deployment_no_longer_waits(signed_in: Portal) -> None:
    deployment_id = _deployment_in_progress(signed_in)
    _pull_request(signed_in, deployment_id, number=9, url="https://github.com/acme/infra/pull/9")
    _set_state(signed_in, PullRequestStatus.ENDED, merged_at=datetime.now(UTC))
    with signed_in.runtime.db.session(write=True) as session:
        session.get(Deployment, deployment_id).status = "SUCCEEDED"  # type: ignore[union-attr]
    page = signed_in.client.get(f"/portal/deployments/{deployment_id}").text
    assert '<span class="status status-good">merged</span>' in page
    assert "no longer watched" in page and 'id="waiting-for"' not in page


# --- a synced service: its configuration, instances' sync and blockers -------------------------


def _synced_service(portal: Portal) -> None:
    """Service shop with instances a and b in environment dev, synced from acme/specs."""
    _deployment_in_progress(portal)
    finish(portal.runtime)
    created = portal.post(
        SVC_URL,
        {
            "mode": "form",
            "instances": "2",
            "action": "create",
            "name": "shop",
            **{
                f"instance-{i}-{key}": value
                for i, name in enumerate("ab")
                for key, value in (("name", name), ("environment", "dev"), ("input-port", "80"))
            },
        },
    )
    assert created.status_code == 303, created.text
    finish(portal.runtime)
    runtime = portal.runtime
    repositories.create_repository(
        in_process.context(runtime, "test", "CreateRepository", principal=ADMIN),
        {"name": "acme/specs", "provider": "GITHUB", "connectionArn": _git_connection(runtime)},  # type: ignore[typeddict-item]
    )
    service_sync.create_service_sync_config(
        in_process.context(runtime, "test", "CreateServiceSyncConfig", principal=ADMIN),
        {
            "serviceName": "shop",
            "repositoryProvider": "GITHUB",  # type: ignore[typeddict-item]
            "repositoryName": "acme/specs",
            "branch": "main",
            "filePath": "proton-ops.yaml",
        },
    )


def _blocker(portal: Portal, blocker_id: str, instance: str | None, reason: str) -> None:
    with portal.runtime.db.session(write=True) as session:
        session.add(
            SyncBlockerRow(
                id=blocker_id,
                service_name="shop",
                service_instance_name=instance,
                type=proton.BlockerType.AUTOMATED,
                status=proton.BlockerStatus.ACTIVE,
                created_reason=reason,
                created_at=datetime.now(UTC),
                contexts=[{"key": "commit", "value": "<b>abc</b>"}],
            )
        )


def test_a_synced_service_shows_its_config_and_instances_sync(signed_in: Portal) -> None:
    _synced_service(signed_in)
    now = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    revision = sync_attempts.Revision("GITHUB", "acme/specs", "main", "f" * 40, "specs/a")
    with signed_in.runtime.db.session(write=True) as session:
        row = sync_attempts.start(
            session,
            proton.SyncType.SERVICE_SYNC,
            SyncScope.INSTANCE,
            "shop/a",
            now,
            desired=revision,
        )
        sync_attempts.add_event(row, "Deploying <i>spec</i>", "DEPLOY", now, external_id="d-1")
    page = signed_in.client.get("/portal/services/shop").text
    config = page.split('id="service-sync-config"', 1)[1].split("</dl>", 1)[0]
    assert 'href="/portal/repositories/github/acme/specs">acme/specs</a>' in config
    assert "proton-ops.yaml</code>" in config and "<code>main</code>" in config
    table = page.split('id="instance-sync"', 1)[1].split("</table>", 1)[0]
    assert ">a</a>" in table and ">b</a>" not in table  # b was never synced
    assert '<span class="status status-neutral">initiated</span>' in table
    assert f'title="{"f" * 40}">{"f" * 12}</code>' in table and "specs/a" in table
    assert "Deploying &lt;i&gt;spec&lt;/i&gt;" in page and "(d-1)" in page
    assert 'id="blockers-heading"' not in page


def test_a_blocker_is_resolved_from_the_service_page(signed_in: Portal) -> None:
    _synced_service(signed_in)
    _blocker(signed_in, "blk-service", None, "Instance c was deleted <by hand>")
    _blocker(signed_in, "blk-a", "a", "Instance a was updated by hand")
    page = signed_in.client.get("/portal/services/shop").text
    blockers = page.split('id="blockers-heading"', 1)[1]
    assert blockers.index("the whole service") < blockers.index("instance a")
    assert "Instance c was deleted &lt;by hand&gt;" in blockers
    assert "&lt;b&gt;abc&lt;/b&gt;" in blockers and "<b>abc</b>" not in blockers
    action = "/portal/services/shop/sync-blockers/blk-a/resolve"
    assert f'action="{action}"' in blockers
    # No reason: refused beside the field, on the blocker's own page, and still active.
    empty = signed_in.post(action, {"resolvedReason": "  "})
    assert empty.status_code == 400
    assert _error(empty.text, "resolvedReason") == "is required"
    assert "Instance a was updated by hand" in empty.text
    resolved = signed_in.post(action, {"resolvedReason": "the change is in git now"})
    assert resolved.status_code == 303 and resolved.headers["location"] == "/portal/services/shop"
    with signed_in.runtime.db.session() as session:
        row = session.get(SyncBlockerRow, "blk-a")
        assert row is not None
        assert (row.status, row.resolved_reason) == ("RESOLVED", "the change is in git now")
    after = signed_in.client.get("/portal/services/shop").text
    assert "The sync blocker is resolved" in after
    assert "Instance a was updated by hand" not in after and "blk-service" in after
    # The domain's refusal (resolved already) is shown; there is nothing left to fill in.
    again = signed_in.post(action, {"resolvedReason": "twice"})
    assert again.status_code == 400
    assert "was resolved already" in again.text and 'class="error-summary"' in again.text
    assert "This blocker is not active any more." in again.text
    assert signed_in.client.get(action).status_code == 404  # no longer active


def test_a_service_without_sync_says_so(signed_in: Portal) -> None:
    _synced_service(signed_in)
    service_sync.delete_service_sync_config(
        in_process.context(signed_in.runtime, "test", "DeleteServiceSyncConfig", principal=ADMIN),
        {"serviceName": "shop"},
    )
    page = signed_in.client.get("/portal/services/shop").text
    assert "This service is not synced from a repository." in page


# --- a synced template, and what syncs from a repository ---------------------------------------


def _synced_template(portal: Portal) -> None:
    """Environment template network synced from acme/templates, branch main, folder infra."""
    runtime = portal.runtime
    repositories.create_repository(
        in_process.context(runtime, "test", "CreateRepository", principal=ADMIN),
        {
            "name": "acme/templates",
            "provider": "GITHUB",
            "connectionArn": _git_connection(runtime, "templates-forge"),
        },  # type: ignore[typeddict-item]
    )
    template_sync.create_template_sync_config(
        in_process.context(runtime, "test", "CreateTemplateSyncConfig", principal=ADMIN),
        {
            "templateName": "network",
            "templateType": "ENVIRONMENT",  # type: ignore[typeddict-item]
            "repositoryProvider": "GITHUB",  # type: ignore[typeddict-item]
            "repositoryName": "acme/templates",
            "branch": "main",
            "subdirectory": "infra",
        },
    )


def test_a_synced_template_shows_its_config_and_each_majors_sync(signed_in: Portal) -> None:
    _synced_template(signed_in)
    url = "/portal/templates/environment/network"
    assert 'id="sync-major-1"' not in signed_in.client.get(url).text  # not synced yet
    start = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
    revision = sync_attempts.Revision(
        "GITHUB", "acme/templates", "main", "c" * 40, "infra/network/v1"
    )
    with signed_in.runtime.db.session(write=True) as session:
        for minute, status in enumerate(
            [proton.ResourceSyncStatus.SUCCEEDED, proton.ResourceSyncStatus.FAILED]
        ):
            now = start + timedelta(minutes=minute)
            row = sync_attempts.start(
                session,
                proton.SyncType.TEMPLATE_SYNC,
                SyncScope.TEMPLATE,
                "ENVIRONMENT/network/1",
                now,
                desired=revision,
            )
            sync_attempts.add_event(
                row, f"Attempt {minute}: bad <schema>", "CHECK", now, status=status
            )
    page = signed_in.client.get(url).text
    config = page.split('id="template-sync-config"', 1)[1].split("</dl>", 1)[0]
    assert 'href="/portal/repositories/github/acme/templates">acme/templates</a>' in config
    assert "infra/network/v&lt;major&gt;/" in config
    major = page.split('id="sync-major-1"', 1)[1].split("</section>", 1)[0]
    assert '<span class="status status-bad">failed</span>' in major
    assert "2026-03-03 08:00:00 UTC" in major  # the latest successful one
    assert "Attempt 1: bad &lt;schema&gt;" in major and "Attempt 0" not in major
    assert f'title="{"c" * 40}"' in major and "infra/network/v1" in major


def test_a_repository_page_lists_what_syncs_from_it(signed_in: Portal) -> None:
    _synced_template(signed_in)
    _synced_service(signed_in)  # from acme/specs: not this repository
    template_sync.create_template_sync_config(
        in_process.context(signed_in.runtime, "test", "CreateTemplateSyncConfig", principal=ADMIN),
        {
            "templateName": "webapp",
            "templateType": "SERVICE",  # type: ignore[typeddict-item]
            "repositoryProvider": "GITHUB",  # type: ignore[typeddict-item]
            "repositoryName": "acme/specs",
            "branch": "release",
        },
    )
    templates = signed_in.client.get("/portal/repositories/github/acme/templates").text
    table = templates.split('id="sync-definitions"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr>") == 2  # the header and network
    assert '<th scope="row">network</th>' in table and "infra</code>" in table
    specs = signed_in.client.get("/portal/repositories/github/acme/specs").text
    table = specs.split('id="sync-definitions"', 1)[1].split("</table>", 1)[0]
    assert "<td>service sync</td>" in table and "proton-ops.yaml" in table
    assert "<td>template sync</td>" in table and "<code>release</code>" in table
