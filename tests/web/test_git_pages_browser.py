"""The portal's git pages in a real browser (Debian's Chromium through Playwright) against a
real ``baryon up``: registering a repository on Baryon's own git server with the keyboard,
a mistake first, pushing a template bundle to the clone URL the page shows with the git CLI,
and watching the template sync that push starts on the repository's and the template's
pages."""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from tests.support.bundles import env_bundle
from tests.support.processes import BaryonProcess
from tests.web.test_portal_browser import PASSWORD, USER, page, server, shot  # noqa: F401

with contextlib.suppress(ImportError):  # without it, the server fixture skips or fails first
    from playwright.sync_api import expect


def _git(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-c", "user.name=Dana", "-c", "user.email=dana@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin", "HOME": str(cwd)},
    )


def _reload_until(tab: Any, url: str, status: Any, text: str = "succeeded") -> None:
    deadline = time.monotonic() + 30
    tab.goto(url)
    while status.count() == 0 or status.inner_text() != text:
        assert time.monotonic() < deadline, f"{url} did not show {text}"
        time.sleep(0.3)
        tab.reload()


def test_a_repository_is_registered_and_pushed_to(
    server: BaryonProcess,  # noqa: F811
    page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    portal = server.endpoint + "/portal/"
    page.goto(portal + "sign-in")
    page.fill("#name", USER)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    expect(page).to_have_url(portal)

    page.click("nav >> text=Repositories")
    expect(page.locator("h1")).to_have_text("Repositories")
    expect(page.locator("#connections")).to_contain_text("Baryon's own git server")
    # The only connection is chosen already; the keyboard does the rest.
    expect(page.locator("#connection")).to_have_value(
        page.locator("#connection option").first.get_attribute("value") or ""
    )
    page.fill("#name", "no-owner")
    page.press("#name", "Enter")
    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()  # the keyboard lands on what went wrong
    expect(page.locator("#name-error")).to_be_visible()
    expect(page.locator("#name")).to_have_value("no-owner")
    shot(page, "git-01-register-error")
    page.fill("#name", "acme/infra")
    page.press("#name", "Enter")
    expect(page).to_have_url(portal + "repositories/github/acme/infra")
    expect(page.locator(".flash")).to_contain_text("acme/infra is registered")
    clone_url = page.locator("#clone-url").inner_text()
    assert clone_url == server.endpoint + "/git/acme/infra.git"
    shot(page, "git-02-repository")

    # The address the page shows is the one git pushes to, as a portal user: a template
    # bundle in netsync/v1/, which the template sync configured below registers.
    proton = server.client("proton")
    proton.create_environment_template(name="netsync")
    proton.create_template_sync_config(
        templateName="netsync",
        templateType="ENVIRONMENT",
        repositoryProvider="GITHUB",
        repositoryName="acme/infra",
        branch="main",
    )
    work = tmp_path / "work"
    for path, text in env_bundle().items():
        (work / "netsync" / "v1" / path).parent.mkdir(parents=True, exist_ok=True)
        (work / "netsync" / "v1" / path).write_text(text)
    assert _git("init", "-q", "-b", "main", cwd=work).returncode == 0
    assert _git("add", ".", cwd=work).returncode == 0
    assert _git("commit", "-q", "-m", "first", cwd=work).returncode == 0
    parts = urlsplit(clone_url)
    authed = f"{parts.scheme}://{quote(USER)}:{quote(PASSWORD)}@{parts.netloc}{parts.path}"
    pushed = _git("push", authed, "main", cwd=work)
    assert pushed.returncode == 0, pushed.stderr
    listed = _git("ls-remote", authed, cwd=work)
    assert "refs/heads/main" in listed.stdout, listed.stderr

    deadline = time.monotonic() + 60
    while not proton.list_environment_template_versions(templateName="netsync")["templateVersions"]:
        assert time.monotonic() < deadline, "the push was not synced within a minute"
        time.sleep(0.3)

    # These pages do not refresh themselves: reload until the sync's attempts have ended.
    attempt = page.locator(".sync-attempt").first
    _reload_until(page, portal + "repositories/github/acme/infra", attempt.locator(".status"))
    expect(page.locator("#sync-definitions")).to_contain_text("netsync")
    expect(attempt).to_contain_text("Template sync of branch main")
    expect(attempt.locator("ol.log")).not_to_be_empty()
    shot(page, "git-03-repository-synced")
    synced = page.locator("#sync-major-1")
    _reload_until(page, portal + "templates/environment/netsync", synced.locator(".status").first)
    expect(synced.locator("ol.log")).to_be_visible()  # the latest sync's events, open
    expect(page.locator("table").first).to_contain_text("1.0")  # the version it registered
    shot(page, "git-04-template-synced")
