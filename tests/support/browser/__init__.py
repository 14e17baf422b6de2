"""Chromium through Playwright for the portal's browser tests: a fresh profile per page, a
signed-in helper, and axe-core (this folder's package.json, installed by scripts/dev-setup)
injected into a page to check it for accessibility problems."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import run_baryon
from tests.support.processes import BaryonProcess

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - scripts/dev-setup installs it
    sync_playwright = None  # type: ignore[assignment]


def require_browser(*, axe: bool = False) -> None:
    missing = []
    if sync_playwright is None:
        missing.append("the Python package playwright")
    if not CHROMIUM.exists():
        missing.append(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    if axe and not AXE.exists():
        missing.append(f"axe-core at {AXE} (npm ci --prefix tests/support/browser)")
    if missing:
        needs = " and ".join(missing)
        message = f"The browser tests need {needs}; scripts/dev-setup installs them."
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def create_user(server: BaryonProcess, name: str, password: str) -> None:
    # In this process (tests.support.cli): a fresh `baryon` would spend a second importing.
    created = run_baryon(
        ["users", "create", name, "--password-stdin", "--data-dir", str(server.data_dir)],
        stdin=password + "\n",
    )
    assert created.returncode == 0, created.stderr


def _is_script_error(message: Any) -> bool:
    # Chromium also logs every 4xx page load as a console error; only script errors count.
    return message.type == "error" and not message.text.startswith("Failed to load resource")


@contextmanager
def browser_page(
    *, width: int = 1280, height: int = 800, color_scheme: str = "light", javascript: bool = True
) -> Iterator[Any]:
    """A tab in a fresh Chromium profile; fails the test if a script error was reported."""
    with (
        tempfile.TemporaryDirectory(prefix="baryon-chromium-") as profile,
        sync_playwright() as playwright,
    ):
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height},
            color_scheme=color_scheme,
            java_script_enabled=javascript,
        )
        context.set_default_timeout(20_000)
        tab = context.pages[0] if context.pages else context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.on("console", lambda m: errors.append(m.text) if _is_script_error(m) else None)
        try:
            yield tab
        finally:
            context.close()
        assert not errors, f"the browser reported errors: {errors}"


def sign_in(page: Any, server: BaryonProcess, name: str, password: str) -> None:
    page.goto(server.endpoint + "/portal/sign-in")
    page.fill("#name", name)
    page.fill("#password", password)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(server.endpoint + "/portal/")


def axe_violations(page: Any) -> list[str]:
    """What axe-core finds on the page as it is now, one line per problem and element."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated, not added as a <script>: the portal's Content-Security-Policy allows
        # only its own scripts.
        page.evaluate("() => {\n" + AXE.read_text() + "\n}")
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => v.nodes.map(n => v.id + ': ' + n.target.join(' ') + ' - '"
        " + n.failureSummary.replace(/\\s+/g, ' '))).flat()"
    )
    return list(found)
