"""Live refresh in Chromium: while something deploys, the portal updates its live region
every two seconds without taking the keyboard focus away, without scrolling, and without
closing what the reader opened (a keyboard or screen-reader user can work on the page)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.browser import browser_page, create_user, require_browser, sign_in
from tests.support.bundles import Registry, env_bundle, tar_gz
from tests.support.processes import BaryonProcess, start_baryon
from tests.web.conftest import ROLE

USER, PASSWORD = "kim", "a long and tested passphrase"
REFRESHES = 4


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaryonProcess]:
    require_browser()
    # Stacks take long enough that a deployment is still running after several refreshes.
    process = start_baryon(
        Path(tmp_path_factory.mktemp("live-refresh")),
        env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "40"},
    )
    try:
        create_user(process, USER, PASSWORD)
        proton = process.client("proton")
        registry = Registry(proton, process.client("s3"))
        proton.create_environment_template(name="network")
        version = registry.register("environment", "network", tar_gz(env_bundle()))
        registry.publish("environment", "network", version)
        proton.create_environment(
            name="dev",
            templateName="network",
            templateMajorVersion="1",
            protonServiceRoleArn=ROLE,
            spec="proton: EnvironmentSpec\nspec:\n  size: small\n",
        )
        yield process
    finally:
        process.stop()


def _wait_for_refreshes(page: Any, count: int) -> None:
    for _ in range(count):
        with page.expect_response(lambda r: r.url.endswith("/live") and r.ok, timeout=10_000):
            pass


def test_focus_scroll_and_open_details_survive_refreshes(server: BaryonProcess) -> None:
    with browser_page(width=1280, height=420) as page:
        sign_in(page, server, USER, PASSWORD)
        page.goto(server.endpoint + "/portal/environments/dev")
        assert page.get_attribute("#live", "data-active") == "true"
        # The keyboard's way to a link inside the refreshed region, one that has no id of
        # its own (an id let the old code find a replaced element again; nothing else did).
        target = page.locator("#live dd a").first
        assert target.get_attribute("id") is None
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.closest('#live dd') !== null"):
                break
        assert page.evaluate("document.activeElement.closest('#live dd') !== null")
        page.evaluate("document.activeElement.__marked = 'yes'")
        focused_text = page.evaluate("document.activeElement.textContent")
        page.evaluate("window.scrollTo(0, 120)")
        scrolled = page.evaluate("window.scrollY")
        assert scrolled > 0
        page.evaluate("window.__stayed = true")
        page.evaluate("document.querySelector('#live details').open = true")  # the spec

        _wait_for_refreshes(page, REFRESHES)
        page.wait_for_timeout(300)  # the last response's update has run

        assert page.evaluate("window.__stayed === true"), "the page reloaded"
        assert page.evaluate("document.activeElement.__marked") == "yes", (
            "focus moved to " + page.evaluate("document.activeElement.outerHTML")
        )
        assert page.evaluate("document.activeElement.textContent") == focused_text
        assert page.evaluate("window.scrollY") == scrolled
        assert page.evaluate("document.querySelector('#live details').open"), "details closed"
        assert page.get_attribute("#live", "data-active") == "true"  # still deploying
        # The next key goes on from where the reader was, not from the top of the page.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('#live') !== null")


def test_the_region_still_updates_what_changed(server: BaryonProcess) -> None:
    proton = server.client("proton")
    with browser_page() as page:
        sign_in(page, server, USER, PASSWORD)
        page.goto(server.endpoint + "/portal/environments/dev")
        assert page.get_attribute("#live", "data-active") == "true"
        page.evaluate("document.querySelector('#deployment-status').__marked = 'yes'")
        proton.cancel_environment_deployment(environmentName="dev")
        expect(page.locator("#deployment-status")).not_to_contain_text(
            re.compile("in progress", re.IGNORECASE), timeout=60_000
        )
        # Updated in place: the same element, with new words.
        assert page.evaluate("document.querySelector('#deployment-status').__marked") == "yes"
