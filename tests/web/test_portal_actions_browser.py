"""The portal's recovery and progress items in Chromium against a real ``baryon up``, where
until now only HTTP page tests looked at them: a failed environment's Retry, a failed pipeline
retried until its service is ACTIVE again, a deployment no worker has started shown as queued,
the fleet's progress bar leaving out what failed, and "Deploying now" saying when it holds
more than it shows.

The failures are real: the local cloud refuses a stack whose bucket is already taken (taken
out of band first, freed before Retry). What needs no real run is seeded in the store: issue
16's fleet (tests/web/test_portal_lists.py) plus deployments in progress and a queued job."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, insert, select, update

from baryon.domain.deployments import DeploymentStatus
from baryon.operations.overview import ACTIVE_SHOWN
from baryon.store import resource_counts
from baryon.store.jobs import JobKind, JobStatus
from baryon.store.tables import Deployment, Environment, Job, ServiceInstance
from tests.support.browser import create_user
from tests.support.bundles import Registry, service_bundle
from tests.support.deploying import (
    FAST,
    REPO,
    env_spec,
    pipeline_settled,
    publish_environment_template,
    publish_service_template,
    service_spec,
    settled,
)
from tests.support.processes import BaryonProcess, start_baryon
from tests.web import test_portal_browser as story
from tests.web.conftest import ROLE
from tests.web.test_pipeline_retry import _PIPE_CFN
from tests.web.test_portal_browser import DEPLOY_TIMEOUT_MS, PASSWORD, USER, _require_browser
from tests.web.test_portal_lists import UP_TO_DATE, _deployment, seed_portal_fleet

with contextlib.suppress(ImportError):  # scripts/test installs it; _require_browser says so
    from playwright.sync_api import Page, expect

# The story's Chromium fixture, here with this module's server.
page = story.page

SUFFIX = uuid.uuid4().hex[:6]
ENV_TEMPLATE, SVC_TEMPLATE = f"anet{SUFFIX}", f"aapp{SUFFIX}"
BROKEN_ENV, ENV, SERVICE = f"aenvx{SUFFIX}", f"aenv{SUFFIX}", f"asvc{SUFFIX}"
# The bucket each one's stack creates (ENV_CFN's, and _PIPE_CFN's extra one).
BROKEN_ENV_BUCKET, PIPELINE_BUCKET = f"{BROKEN_ENV}-artifacts", f"{SERVICE}-pipe-taken"
QUEUED_ENV = "env-17"  # a seeded environment whose deployment waits for a worker
UP_TO_DATE_FAILED = UP_TO_DATE[0]  # up to date but failed: the progress bar leaves it out
DEPLOYING_SERVICES = ("svc-00002", "svc-00003")  # seeded instances with a deployment running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaryonProcess]:
    _require_browser()
    data_dir = tmp_path_factory.mktemp("portal-actions")
    process = start_baryon(data_dir, env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.2"})
    try:
        create_user(process, USER, PASSWORD)
        url = _database_url(process)
        seed_portal_fleet(url)
        _seed_recovery_states(url)
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def templates(server: BaryonProcess) -> None:
    """An environment template, and a service template whose pipeline also creates a bucket
    (so that taking that bucket first makes the pipeline's stack fail)."""
    registry = Registry(server.client("proton"), server.client("s3"))
    publish_environment_template(registry, ENV_TEMPLATE)
    files = service_bundle()
    files["pipeline_infrastructure/cloudformation.yaml"] = _PIPE_CFN
    publish_service_template(registry, SVC_TEMPLATE, [(ENV_TEMPLATE, "1")], files)


def _database_url(server: BaryonProcess) -> str:
    return f"sqlite:///{server.data_dir / 'baryon.db'}"


def _in_progress(at: datetime, **target: str | None) -> dict[str, Any]:
    """A deployment row a worker is running (or is to run): issue 16's seeded shape."""
    row = _deployment(0, target.get("service"), target.get("name"), target["environment"] or "", at)
    return {
        **row,
        "status": DeploymentStatus.IN_PROGRESS,
        "created_at": at,
        "last_modified_at": at,
        "completed_at": None,
    }


def _start_deployments(url: str, count: int) -> None:
    """``count`` more seeded instances get a deployment in progress (their state and their
    deployment's, as a worker leaves them mid-deployment), newest last."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            idle = connection.execute(
                select(
                    ServiceInstance.id,
                    ServiceInstance.service_name,
                    ServiceInstance.name,
                    ServiceInstance.environment_name,
                )
                .where(
                    ServiceInstance.service_name.in_(DEPLOYING_SERVICES),
                    ServiceInstance.deployment_status != DeploymentStatus.IN_PROGRESS,
                )
                .order_by(ServiceInstance.service_name, ServiceInstance.name)
                .limit(count)
            ).all()
            assert len(idle) == count, "the seeded fleet has too few instances to start"
            now = datetime.now(UTC)
            for index, (row_id, service, name, environment) in enumerate(idle):
                row = _in_progress(
                    now + timedelta(milliseconds=index),
                    service=service,
                    name=name,
                    environment=environment,
                )
                connection.execute(insert(Deployment), [row])
                connection.execute(
                    update(ServiceInstance)
                    .where(ServiceInstance.id == row_id)
                    .values(
                        deployment_status=DeploymentStatus.IN_PROGRESS,
                        last_attempted_deployment_id=row["id"],
                    )
                )
            resource_counts.recount(connection)
    finally:
        engine.dispose()


def _seed_recovery_states(url: str) -> None:
    """On top of issue 16's fleet: one up-to-date instance failed; QUEUED_ENV deploying by a
    job no worker may claim yet (it runs in a day); and instances deploying, so that exactly
    ACTIVE_SHOWN deployments are in progress, the queued one included."""
    now = datetime.now(UTC)
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            service, name = UP_TO_DATE_FAILED
            connection.execute(
                update(ServiceInstance)
                .where(ServiceInstance.service_name == service, ServiceInstance.name == name)
                .values(deployment_status=DeploymentStatus.FAILED)
            )
            queued = _in_progress(now, environment=QUEUED_ENV)
            connection.execute(insert(Deployment), [queued])
            connection.execute(
                update(Environment)
                .where(Environment.name == QUEUED_ENV)
                .values(
                    deployment_status=DeploymentStatus.IN_PROGRESS,
                    last_attempted_deployment_id=queued["id"],
                )
            )
            connection.execute(
                insert(Job),
                [
                    {
                        "kind": JobKind.DEPLOY,
                        "payload": {"deployment_id": queued["id"]},
                        "status": JobStatus.QUEUED,
                        "attempts": 0,
                        "run_after": now + timedelta(days=1),
                        "created_at": now,
                        "updated_at": now,
                    }
                ],
            )
            resource_counts.recount(connection)
    finally:
        engine.dispose()
    _start_deployments(url, ACTIVE_SHOWN - 1)


def _claim_queued_job(url: str) -> None:
    """QUEUED_ENV's job is claimed, as a worker claims one (store/jobs.claim): RUNNING under a
    lease. The lease outlives the test, so no worker of the server takes the job over."""
    now = datetime.now(UTC)
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            claimed = connection.execute(
                update(Job)
                .where(Job.kind == JobKind.DEPLOY, Job.status == JobStatus.QUEUED)
                .values(
                    status=JobStatus.RUNNING,
                    attempts=1,
                    lease_owner="test-worker",
                    lease_expires_at=now + timedelta(days=1),
                    updated_at=now,
                )
            )
            assert claimed.rowcount == 1
    finally:
        engine.dispose()


def _sign_in(page: Page, server: BaryonProcess) -> str:
    portal = server.endpoint + "/portal/"
    page.goto(portal)
    page.fill("#name", USER)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    expect(page).to_have_url(portal)
    return portal


def test_a_failed_environment_is_retried_from_its_page_and_deploys(
    server: BaryonProcess, templates: None, page: Page
) -> None:
    proton, s3 = server.client("proton"), server.client("s3")
    s3.create_bucket(Bucket=BROKEN_ENV_BUCKET)
    proton.create_environment(
        name=BROKEN_ENV,
        templateName=ENV_TEMPLATE,
        templateMajorVersion="1",
        spec=env_spec(),
        protonServiceRoleArn=ROLE,
    )
    failed = settled(lambda: proton.get_environment(name=BROKEN_ENV), "environment")
    assert failed["deploymentStatus"] == "FAILED", failed

    # --- The failed list leads to it; its page says it failed and offers Retry.
    portal = _sign_in(page, server)
    page.goto(portal + "resources?status=failed&kind=environment")
    row = page.locator("#resource-list tbody tr", has_text=BROKEN_ENV)
    row.get_by_role("link", name="Open to retry").click()
    expect(page).to_have_url(portal + f"environments/{BROKEN_ENV}")
    status = page.locator("#deployment-status")
    expect(status).to_contain_text("failed")
    retry = page.locator("#retry-deployment")
    expect(retry).to_have_text("Retry the failed deployment")

    # --- The cause is fixed out of band; Retry deploys it, and the page follows by itself.
    s3.delete_bucket(Bucket=BROKEN_ENV_BUCKET)
    retry.click()
    expect(page.locator(".flash")).to_contain_text(
        f"Retrying the failed deployment of environment {BROKEN_ENV}"
    )
    expect(status).to_contain_text("succeeded", timeout=DEPLOY_TIMEOUT_MS)
    expect(status).not_to_contain_text("failed")
    expect(page.locator("#retry-deployment")).to_have_count(0)
    story.shot(page, "portal-actions-01-environment-retried")
    environment = proton.get_environment(name=BROKEN_ENV)["environment"]
    assert environment["deploymentStatus"] == "SUCCEEDED"
    assert environment["lastAttemptedDeploymentId"] != failed["lastAttemptedDeploymentId"]


def test_a_failed_pipeline_retried_in_the_browser_makes_its_service_active(
    server: BaryonProcess, templates: None, page: Page
) -> None:
    proton, s3 = server.client("proton"), server.client("s3")
    proton.create_environment(
        name=ENV,
        templateName=ENV_TEMPLATE,
        templateMajorVersion="1",
        spec=env_spec(),
        protonServiceRoleArn=ROLE,
    )
    proton.get_waiter("environment_deployed").wait(name=ENV, WaiterConfig=FAST)
    s3.create_bucket(Bucket=PIPELINE_BUCKET)
    proton.create_service(
        name=SERVICE,
        templateName=SVC_TEMPLATE,
        templateMajorVersion="1",
        spec=service_spec([("web", ENV, None)], pipeline={"dockerfile": "Dockerfile"}),
        **REPO,
    )
    assert pipeline_settled(proton, SERVICE)["deploymentStatus"] == "FAILED"

    # --- The service says it failed to be created; its pipeline row leads to Retry.
    portal = _sign_in(page, server)
    page.goto(portal + f"services/{SERVICE}")
    service_status = page.locator("#service-status")
    expect(service_status).to_contain_text("create failed", timeout=DEPLOY_TIMEOUT_MS)
    page.locator("#pipeline").get_by_role("link", name="pipeline").click()
    expect(page).to_have_url(portal + f"services/{SERVICE}/pipeline")
    expect(page.locator("#deployment-status")).to_contain_text("failed")

    s3.delete_bucket(Bucket=PIPELINE_BUCKET)
    page.click("#retry-deployment")
    expect(page.locator("#deployment-status")).to_contain_text(
        "succeeded", timeout=DEPLOY_TIMEOUT_MS
    )

    # --- Back on the service: ACTIVE, nothing failed left on it.
    page.goto(portal + f"services/{SERVICE}")
    expect(service_status).to_contain_text("active", timeout=DEPLOY_TIMEOUT_MS)
    expect(service_status).not_to_contain_text("failed")
    expect(page.locator("#pipeline .deployment-status")).to_contain_text("succeeded")
    story.shot(page, "portal-actions-02-service-active")
    assert proton.get_service(name=SERVICE)["service"]["status"] == "ACTIVE"


def test_a_deployment_no_worker_has_started_is_queued_until_one_claims_it(
    server: BaryonProcess, page: Page
) -> None:
    portal = _sign_in(page, server)
    page.goto(portal + f"environments/{QUEUED_ENV}")
    status = page.locator("#deployment-status")
    expect(status).to_contain_text("queued")
    expect(status).to_contain_text("Waiting for a worker to start it.")
    expect(status).not_to_contain_text("in progress")
    expect(page.locator("#waiting-for-worker")).to_be_visible()
    expect(page.locator("#retry-deployment")).to_have_count(0)
    expect(page.locator("#live")).to_contain_text("Changes wait until the deployment in progress")
    story.shot(page, "portal-actions-03-queued")

    # --- A worker claims the job: the page, refreshing itself, says it is in progress.
    _claim_queued_job(_database_url(server))
    expect(status).to_contain_text("in progress")
    expect(status).not_to_contain_text("queued")
    expect(page.locator("#waiting-for-worker")).to_have_count(0)


def test_the_fleet_progress_bar_counts_only_up_to_date_resources_that_did_not_fail(
    server: BaryonProcess, page: Page
) -> None:
    portal = _sign_in(page, server)
    page.goto(portal + "fleet")
    row = page.locator("#fleet-service-bench-svc-instance")
    expect(row.locator('[data-count="total"]')).to_have_text("44")
    expect(row.locator('[data-count="up-to-date"]')).to_have_text("4")
    meter = row.locator("meter")
    expect(meter).to_have_attribute("value", "3")
    expect(meter).to_have_attribute("max", "44")
    expect(meter).to_have_attribute("title", "3 of 44 up to date and deployed")
    story.shot(page, "portal-actions-04-fleet-progress")

    # --- The one the bar leaves out: up to date, and failed.
    row.locator('[data-count="up-to-date"]').click()
    expect(page.locator("#resource-list tbody tr")).to_have_count(4)
    page.select_option("#filter-status", "failed")
    page.click("#apply-filters")
    failed = page.locator("#resource-list tbody tr")
    expect(failed).to_have_count(1)
    service, name = UP_TO_DATE_FAILED
    expect(failed).to_contain_text(f"{name} of {service}")


def test_deploying_now_says_when_it_holds_more_than_it_shows(
    server: BaryonProcess, page: Page
) -> None:
    portal = _sign_in(page, server)
    listed = page.locator("#live h2:has-text('Deploying now') + ul li")
    more = page.locator("#deploying-more")
    expect(listed).to_have_count(ACTIVE_SHOWN)
    expect(more).to_have_count(0)

    # --- One more starts: the page, refreshing itself, says it shows only the newest.
    _start_deployments(_database_url(server), 1)
    expect(more).to_contain_text(f"Showing the newest {ACTIVE_SHOWN} deployments in progress")
    expect(listed).to_have_count(ACTIVE_SHOWN)
    story.shot(page, "portal-actions-05-deploying-more")
    more.get_by_role("link", name="See every deployment in progress").click()
    expect(page).to_have_url(portal + "deployments?status=deploying")
    expect(page.locator("table tbody tr")).to_have_count(ACTIVE_SHOWN + 1)
