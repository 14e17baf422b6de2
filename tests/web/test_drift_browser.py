"""The drift pages in Chromium against a real ``baryon up``: a queue attribute changed behind
Baryon's back (boto3's SetQueueAttributes on the local cloud) shows on the environment's drift
page and on /portal/drift with the property and both values; Re-apply on the page deploys
again and puts the template's value back, and Ignore hides an item until its date.

Each page's screenshot is kept in test-artifacts/screenshots/.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.browser import browser_page, create_user, require_browser, sign_in
from tests.support.deploying import env_spec, settled
from tests.support.drift_setup import (
    QUEUE_BUNDLE,
    RETENTION_PATH,
    TIMEOUT_PATH,
    deployed_environment,
    queue_url_of,
)
from tests.support.processes import BaryonProcess, start_baryon
from tests.web.conftest import ROLE

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
USER, PASSWORD = "drew", "a long and tested passphrase"
ENV = "drifting"
PAGE = f"/portal/environments/{ENV}/drift"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaryonProcess]:
    require_browser()
    process = start_baryon(
        Path(tmp_path_factory.mktemp("drift-browser")),
        env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.2"},
    )
    try:
        create_user(process, USER, PASSWORD)  # the first person: an admin
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def queue_url(server: BaryonProcess) -> str:
    spec = env_spec(visibility_timeout=30)
    deployed_environment(server, ENV, "queues", QUEUE_BUNDLE, ROLE, spec)
    return queue_url_of(server, ENV)


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def checked(page: Any, server: BaryonProcess) -> None:
    """Clicks Check now and reloads the page until the check it started has ended."""
    page.goto(server.endpoint + PAGE)
    page.click("#check-drift")
    expect(page.locator("body")).to_contain_text("Drift check started")
    deadline = time.monotonic() + 120
    while True:
        status = page.locator("#drift-last-status").inner_text()
        if not status.startswith(("queued", "running")):
            return
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
        page.reload()


def row(page: Any, path: str) -> Any:
    return page.locator("#drift-items tbody tr", has_text=path)


def test_drift_made_behind_baryons_back_shows_on_both_pages_and_reapply_restores_it(
    server: BaryonProcess, queue_url: str
) -> None:
    sqs, proton = server.client("sqs"), server.client("proton")
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": "45"})
    with browser_page() as page:
        sign_in(page, server, USER, PASSWORD)

        checked(page, server)

        expect(page.locator("#drift-last-status")).to_contain_text("drifted")
        item = row(page, TIMEOUT_PATH)
        expect(item).to_have_count(1)
        cells = item.locator("td")
        expect(cells.nth(1)).to_have_text("30")  # expected
        expect(cells.nth(2)).to_have_text("45")  # actual
        expect(cells.nth(3)).to_contain_text("input visibility_timeout")
        shot(page, "drift-01-resource")

        page.click("nav >> text=Drift")
        fleet = page.locator("#fleet-drift-items tbody tr", has_text=TIMEOUT_PATH)
        expect(fleet).to_have_count(1)
        expect(fleet).to_contain_text(ENV)
        expect(fleet.locator("td").nth(2)).to_have_text("30")
        expect(fleet.locator("td").nth(3)).to_have_text("45")
        shot(page, "drift-02-fleet")
        fleet.locator(f"a[href$='{PAGE}']").click()

        row(page, TIMEOUT_PATH).locator("button", has_text="Re-apply").click()

        expect(page.locator("body")).to_contain_text("Drift item reapplied: deployment")
        view = settled(lambda: proton.get_environment(name=ENV), "environment")
        assert view["deploymentStatus"] == "SUCCEEDED", server.log_tail()
        live = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"])
        assert live["Attributes"]["VisibilityTimeout"] == "30"
        checked(page, server)
        expect(page.locator("#drift-last-status")).to_contain_text("in sync")
        expect(page.locator("#no-drift")).to_be_visible()


def test_ignore_on_the_page_hides_the_item_until_its_date(
    server: BaryonProcess, queue_url: str
) -> None:
    sqs = server.client("sqs")
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"MessageRetentionPeriod": "1000"})
    until = (datetime.now(UTC) + timedelta(days=3)).date()
    with browser_page() as page:
        sign_in(page, server, USER, PASSWORD)
        checked(page, server)
        item = row(page, RETENTION_PATH)
        expect(item.locator("td").nth(2)).to_have_text("1000")
        # Template-bound: there is no input to accept the value into.
        expect(item.locator("button", has_text="Accept")).to_have_count(0)

        item.locator("input[name=reason]").fill("load test this week")
        item.locator("input[name=until]").fill(until.isoformat())
        item.locator("button", has_text="Ignore").click()

        expect(page.locator("body")).to_contain_text("Drift item ignored")
        ignored = row(page, RETENTION_PATH)
        expect(ignored).to_contain_text("ignored until")
        expect(ignored).to_contain_text("load test this week")
        shot(page, "drift-03-ignored")
    open_items = server.client("baryon").list_drift_items(status="OPEN")["items"]
    assert RETENTION_PATH not in [i["propertyPath"] for i in open_items]
    [kept] = server.client("baryon").list_drift_items(status="IGNORED")["items"]
    assert kept["ignoreUntil"].date() == until
