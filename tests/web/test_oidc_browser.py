"""Signing in to the portal through a real OpenID Connect provider (tests/support/oidc/) in
Chromium, against a real ``baryon up``: the person's groups decide their teams, and so their
role."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from baryon.auth.identities import principal_for
from baryon.runtime import build_runtime
from baryon.settings import load_settings
from tests.support.cli import run_baryon
from tests.support.oidc_provider import OidcProvider, oidc_provider  # noqa: F401
from tests.support.processes import BaryonProcess, clean_environment, start_baryon
from tests.web.test_portal_browser import CHROMIUM, CHROMIUM_ARGS, _require_browser

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - scripts/test installs it
    sync_playwright = None  # type: ignore[assignment]


def _baryon(data_dir: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "baryon.cli.main", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_environment(),
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _in_process(data_dir: Path, *args: str) -> None:
    """``baryon ARGS --data-dir`` in this process (tests.support.cli), for the fixture."""
    done = run_baryon([*args, "--data-dir", str(data_dir)])
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    oidc_provider: OidcProvider,  # noqa: F811
) -> Iterator[BaryonProcess]:
    _require_browser()
    data_dir = tmp_path_factory.mktemp("oidc")
    env = {
        "BARYON_OIDC_ISSUER": oidc_provider.issuer,
        "BARYON_OIDC_CLIENT_ID": oidc_provider.client_id,
        "BARYON_OIDC_CLIENT_SECRET": oidc_provider.client_secret,
        "BARYON_OIDC_TEAM_MAP": "platform-engineers=platform",
        "BARYON_OIDC_DISPLAY_NAME": "Test ID",
    }
    process = start_baryon(data_dir, env=env)
    try:
        _in_process(data_dir, "teams", "create", "developers", "--role", "developer")
        _in_process(data_dir, "teams", "create", "platform", "--role", "platform")
        yield process
    finally:
        process.stop()


@pytest.fixture
def page(server: BaryonProcess) -> Iterator[Any]:
    with (
        tempfile.TemporaryDirectory(prefix="baryon-chromium-") as profile,
        sync_playwright() as playwright,
    ):
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        context.set_default_timeout(20_000)
        try:
            yield context.new_page()
        finally:
            context.close()


def _roles(server: BaryonProcess, user: str) -> frozenset[str]:
    runtime = build_runtime(load_settings({"data_dir": server.data_dir}, environ={}))
    try:
        return principal_for(runtime.identity_db, "portal:" + user).roles
    finally:
        runtime.close()


@pytest.mark.parametrize(
    ("login", "team", "role"),
    [("dev", "developers", "developer"), ("plat", "platform", "platform")],
    ids=["developers-group", "mapped-group"],
)
def test_the_group_at_the_provider_decides_the_role(
    server: BaryonProcess, page: Any, login: str, team: str, role: str
) -> None:
    page.goto(server.endpoint + "/portal/sign-in")
    page.get_by_role("link", name="Sign in with Test ID").click()
    # The provider's own login form (oidc-provider's development interactions).
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password")
    page.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/portal/$"))
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    shown = json.loads(_baryon(server.data_dir, "users", "show", login, "--output", "json"))
    assert (shown["kind"], shown["teams"], shown["roles"]) == ("person", [team], [])
    assert shown["oidcIssuer"].startswith("http://127.0.0.1:")
    assert _roles(server, login) == {role}
