"""The portal at fleet scale in Chromium against a real ``baryon up``: a platform engineer
follows the fleet's numbers to the lists they count, filters a list with the form and the
keyboard, pages through the deployment history, and never meets a link to a deleted
resource. The store holds the fleet issue 16 was tried at (tests/web/test_portal_lists.py)."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.support.processes import BaryonProcess, clean_environment, start_baryon
from tests.web import test_portal_browser as story
from tests.web.test_portal_browser import PASSWORD, USER, _require_browser, shot
from tests.web.test_portal_lists import seed_portal_fleet

with contextlib.suppress(ImportError):  # scripts/test installs it; _require_browser says so
    from playwright.sync_api import Page, expect

# The story's Chromium fixture, here with this module's server.
page = story.page


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaryonProcess]:
    _require_browser()
    data_dir = tmp_path_factory.mktemp("fleet-scale")
    process = start_baryon(data_dir)
    try:
        created = subprocess.run(
            [
                sys.executable,
                "-m",
                "baryon.cli.main",
                "users",
                "create",
                USER,
                "--password-stdin",
                "--data-dir",
                str(data_dir),
            ],
            input=PASSWORD + "\n",
            capture_output=True,
            text=True,
            timeout=60,
            env=clean_environment(),
        )
        assert created.returncode == 0, created.stderr
        seed_portal_fleet(f"sqlite:///{data_dir / 'baryon.db'}")
        yield process
    finally:
        process.stop()


def _sign_in(page: Page, server: BaryonProcess) -> str:
    portal = server.endpoint + "/portal/"
    page.goto(portal)
    page.fill("#name", USER)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    expect(page).to_have_url(portal)
    return portal


def test_the_fleet_numbers_lead_to_filtered_paged_lists(server: BaryonProcess, page: Page) -> None:
    portal = _sign_in(page, server)

    # --- The failed card lists exactly the three failed instances.
    expect(page.locator("#card-failed .number")).to_have_text("3")
    page.click("#card-failed")
    expect(page.locator("h1")).to_have_text("Failed resources")
    expect(page.locator("#resource-list tbody tr")).to_have_count(3)
    shot(page, "fleet-scale-01-failed")

    # --- The fleet: 40 instances on 1.0 are behind a major AND a minor; both rollouts offered.
    page.goto(portal + "fleet")
    row = page.locator("#fleet-service-bench-svc-instance")
    expect(row.locator('[data-count="behind-minor"]')).to_have_text("40")
    expect(row.locator('[data-count="behind-major"]')).to_have_text("40")
    expect(row.locator("meter")).to_have_attribute("value", "4")
    expect(page.locator("#upgrade-service-bench-svc-instance-minor")).to_contain_text("40")
    shot(page, "fleet-scale-02-fleet")
    row.locator('[data-count="behind-minor"]').click()
    expect(page.locator("h1")).to_have_text("Service instances")
    expect(page.locator("#resource-list tbody tr")).to_have_count(40)

    # --- The filter form keeps the fleet's filters and adds a status: the failed among them.
    expect(page.locator("#filter-standing")).to_have_value("behind-minor")
    page.select_option("#filter-status", "failed")
    page.focus("#apply-filters")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"status=failed"))
    expect(page.locator("#resource-list tbody tr")).to_have_count(3)
    expect(page.locator("#resource-list")).to_contain_text("svc-00001")
    shot(page, "fleet-scale-03-filtered")


def test_deployment_history_pages_without_links_to_deleted_resources(
    server: BaryonProcess, page: Page
) -> None:
    portal = _sign_in(page, server)
    page.goto(portal + "deployments")
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(50)
    page.click("#next-page")
    expect(rows).to_have_count(50)
    page.click("#next-page")
    expect(rows).to_have_count(17)
    expect(page.locator("#next-page")).to_have_count(0)
    page.goto(portal + "deployments?service=svc-00003")
    expect(page.locator(".deleted").first).to_be_visible()
    expect(page.locator('a[href*="/instances/gone"]')).to_have_count(0)
    shot(page, "fleet-scale-04-history")
