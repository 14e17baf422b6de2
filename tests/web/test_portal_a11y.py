"""Every main page of the portal in Chromium, at a phone's, a tablet's and a laptop's width,
in the light and the dark theme: axe-core finds no accessibility violation and the page never
scrolls sideways (a wide table scrolls inside itself). Also: the README's /portal link, a
template description set by ``baryon template publish``, and input values shown as typed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.browser import (
    axe_violations,
    browser_page,
    create_user,
    require_browser,
    sign_in,
)
from tests.support.bundles import ENV_SCHEMA, env_bundle, service_bundle
from tests.support.cli import run_baryon
from tests.support.deploying import env_spec, service_spec
from tests.support.processes import BaryonProcess, clean_environment, start_baryon
from tests.web.conftest import ROLE

USER, PASSWORD = "ari", "a long and tested passphrase"
WIDTHS = (390, 768, 1280)
SCHEMES = ("light", "dark")
FAST = {"Delay": 1, "MaxAttempts": 120}
PAPER = {"light": "rgb(255, 255, 255)", "dark": "rgb(13, 17, 23)"}
IMAGE = "nginx-café"  # tojson showed it as nginx-caf\u00e9


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def _publish(server: BaryonProcess, *args: str) -> None:
    exports = {k: v for k, v in server.exports.items() if k != "AWS_DATA_PATH"}
    done = run_baryon(["template", "publish", *args], clean_environment(**exports))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaryonProcess]:
    require_browser(axe=True)
    folder = Path(tmp_path_factory.mktemp("a11y"))
    process = start_baryon(folder / "data", env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.2"})
    try:
        create_user(process, USER, PASSWORD)
        proton = process.client("proton")
        # The environment template exists already (made through the API, no description):
        # publishing describes it; the service template is made by publishing.
        proton.create_environment_template(name="network")
        _publish(
            process,
            str(_write(folder / "env", env_bundle())),
            "--name",
            "network",
            "--kind",
            "environment",
            "--publish",
            "--template-description",
            "A VPC for one team's services",
        )
        files = service_bundle(pipeline=False)
        files["schema/schema.yaml"] = files["schema/schema.yaml"].replace(
            '  pipeline_input_type: "PipeInput"\n', ""
        )
        _write(folder / "svc", files)
        _publish(
            process,
            str(folder / "svc"),
            "--name",
            "webapp",
            "--kind",
            "service",
            "--publish",
            "--customer-managed",
            "--compatible-environment",
            "network:1",
            "--description",
            "A container behind a URL",
        )
        proton.create_environment(
            name="dev",
            templateName="network",
            templateMajorVersion="1",
            protonServiceRoleArn=ROLE,
            spec=env_spec(size="small"),
        )
        proton.get_waiter("environment_deployed").wait(name="dev", WaiterConfig=FAST)
        proton.create_service(
            name="shop",
            templateName="webapp",
            templateMajorVersion="1",
            spec=service_spec([("alpha", "dev", {"image": IMAGE})]),
        )
        proton.get_waiter("service_created").wait(name="shop", WaiterConfig=FAST)
        yield process
    finally:
        process.stop()


def _main_pages(server: BaryonProcess) -> list[str]:
    proton = server.client("proton")
    deployment = proton.list_deployments()["deployments"][0]["id"]
    return [
        "",
        "templates",
        "templates/service/webapp",
        "templates/environment/network/1.0",
        "fleet",
        "environments",
        "environments/dev",
        "services",
        "services/shop",
        "services/shop/instances/alpha",
        "deployments",
        f"deployments/{deployment}",
        "new/service",
        "new/service?template=webapp&version=1.0",
        "new/environment?template=network&version=1.0",
        "people",
    ]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_no_page_has_an_accessibility_violation_or_scrolls_sideways(
    server: BaryonProcess, scheme: str
) -> None:
    found: list[str] = []
    for width in WIDTHS:
        with browser_page(width=width, height=800, color_scheme=scheme) as page:
            page.goto(server.endpoint + "/portal/sign-in")
            background = page.evaluate("getComputedStyle(document.documentElement).background")
            assert PAPER[scheme] in background  # the theme follows the system's setting
            found += _check(page, f"{scheme} {width}px sign-in")
            sign_in(page, server, USER, PASSWORD)
            for path in _main_pages(server):
                page.goto(server.endpoint + "/portal/" + path)
                found += _check(page, f"{scheme} {width}px /portal/{path}")
    assert not found, "\n".join(found)


def _check(page: Any, where: str) -> list[str]:
    problems = [f"{where}: {line}" for line in axe_violations(page)]
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    if overflow > 0:
        wide = page.evaluate(  # what sticks out, outside the tables (which scroll)
            "Array.from(document.querySelectorAll('main *, header *'))"
            ".filter(e => !e.closest('thead, tbody'))"
            ".filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth)"
            ".slice(0, 3).map(e => e.tagName + '.' + e.className).join(', ')"
        )
        problems.append(f"{where}: the page scrolls sideways by {overflow}px ({wide})")
    return problems


def test_the_readme_link_without_a_slash_opens_the_portal(server: BaryonProcess) -> None:
    with browser_page() as page:
        response = page.goto(server.endpoint + "/portal")
        assert response is not None and response.status != 405
        expect(page).to_have_url(server.endpoint + "/portal/sign-in?next=%2Fportal%2F")


def test_the_catalog_shows_the_published_descriptions(server: BaryonProcess) -> None:
    with browser_page() as page:
        sign_in(page, server, USER, PASSWORD)
        page.goto(server.endpoint + "/portal/templates")
        expect(page.locator("table").first).to_contain_text("A VPC for one team's services")
        expect(page.locator("table").nth(1)).to_contain_text("A container behind a URL")


def test_input_values_are_shown_as_typed(server: BaryonProcess) -> None:
    with browser_page() as page:
        sign_in(page, server, USER, PASSWORD)
        page.goto(server.endpoint + "/portal/services/shop/instances/alpha")
        cell = page.locator("#live tr:has(th code:text-is('image')) td")
        expect(cell).to_have_text(IMAGE)


def test_a_pattern_is_said_in_words_with_the_pattern_as_code(server: BaryonProcess) -> None:
    assert "pattern:" in ENV_SCHEMA
    with browser_page() as page:
        sign_in(page, server, USER, PASSWORD)
        page.goto(server.endpoint + "/portal/templates/environment/network/1.0")
        expect(page.locator("table.schema")).to_contain_text(
            "matches the pattern given by the template"
        )
        expect(page.locator("table.schema code", has_text="{1,3}")).to_have_count(1)
