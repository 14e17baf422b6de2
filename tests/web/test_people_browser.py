"""The People page in Chromium against a real ``baryon up``: an admin searches the users by
part of a name, removes a robot from its team and revokes its role with the rows' buttons (the
forms post with the page's CSRF token), and the identity store says so; a viewer sees none of
those buttons."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.support.browser import browser_page, create_user, require_browser, sign_in
from tests.support.processes import BaryonProcess, start_baryon

ADMIN, VIEWER, PASSWORD = "ada", "vic", "a people page passphrase"
SUFFIX = uuid.uuid4().hex[:6]
ROBOT, TEAM = f"deployer-{SUFFIX}", f"release-{SUFFIX}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaryonProcess]:
    require_browser()
    process = start_baryon(tmp_path_factory.mktemp("people-browser"))
    try:
        create_user(process, ADMIN, PASSWORD)  # the first person: an admin
        create_user(process, VIEWER, PASSWORD)
        admin = process.client("baryon")
        admin.grant_role(role="viewer", userName=VIEWER)
        admin.create_team(name=TEAM)
        admin.create_user(name=ROBOT, kind="ROBOT", teams=[TEAM], roles=["developer"])
        for number in range(3):
            admin.create_user(name=f"other-bot-{number}", kind="ROBOT")
        yield process
    finally:
        process.stop()


def test_an_admin_searches_then_removes_a_member_and_revokes_a_role(
    server: BaryonProcess,
) -> None:
    with browser_page() as page:
        sign_in(page, server, ADMIN, PASSWORD)
        page.goto(server.endpoint + "/portal/people")
        page.fill("#people-q", f"PLOYER-{SUFFIX}")
        page.click("#search-people")
        rows = page.locator("#users tbody th[scope=row]")
        expect(rows).to_have_count(1)
        expect(rows.first).to_have_text(ROBOT)

        page.click(f"#remove-{ROBOT}-from-{TEAM}")
        expect(page.locator("body")).to_contain_text(f"{ROBOT} is no longer a member of {TEAM}")
        # Back on the same search, without the button of the membership that is gone.
        expect(page.locator("#people-q")).to_have_value(f"PLOYER-{SUFFIX}")
        expect(page.locator(f"#remove-{ROBOT}-from-{TEAM}")).to_have_count(0)

        page.click(f"#revoke-user-{ROBOT}-developer")
        expect(page.locator("body")).to_contain_text(f"{ROBOT} no longer has the role developer")
        expect(page.locator(f"#revoke-user-{ROBOT}-developer")).to_have_count(0)
    robot = server.client("baryon").get_user(name=ROBOT)["user"]
    assert (robot["roles"], robot["teams"]) == ([], [])


def test_a_viewer_sees_no_remove_or_revoke_buttons(server: BaryonProcess) -> None:
    with browser_page() as page:
        sign_in(page, server, VIEWER, PASSWORD)
        page.goto(server.endpoint + "/portal/people")
        expect(page.locator("#users")).to_contain_text(ADMIN)
        expect(page.locator("#users button")).to_have_count(0)
        expect(page.locator("#teams button")).to_have_count(0)
        expect(page.locator("#grant-role")).to_have_count(0)
