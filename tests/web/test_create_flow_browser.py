"""The step-by-step create flow in Chromium against a real Baryon: with JavaScript off
(every step is a server-side page), with the keyboard, going back without losing what was
typed, a review that shows the rendered files, and no accessibility violation on any step."""

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
from tests.support.bundles import SVC_SCHEMA, Registry, env_bundle, service_bundle, tar_gz
from tests.support.deploying import env_spec
from tests.support.processes import BaryonProcess, start_baryon
from tests.web.conftest import ROLE

USER, PASSWORD = "noor", "a long and tested passphrase"
FAST = {"Delay": 1, "MaxAttempts": 120}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaryonProcess]:
    require_browser(axe=True)
    process = start_baryon(
        Path(tmp_path_factory.mktemp("create-flow")),
        env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.2"},
    )
    try:
        create_user(process, USER, PASSWORD)
        proton = process.client("proton")
        registry = Registry(proton, process.client("s3"))
        proton.create_environment_template(name="network")
        registry.publish(
            "environment",
            "network",
            registry.register("environment", "network", tar_gz(env_bundle())),
        )
        proton.create_service_template(name="webapp", pipelineProvisioning="CUSTOMER_MANAGED")
        files = service_bundle(pipeline=False)
        files["schema/schema.yaml"] = SVC_SCHEMA.replace('  pipeline_input_type: "PipeInput"\n', "")
        compatible = [{"templateName": "network", "majorVersion": "1"}]
        registry.publish(
            "service",
            "webapp",
            registry.register(
                "service", "webapp", tar_gz(files), compatibleEnvironmentTemplates=compatible
            ),
        )
        proton.create_environment(
            name="dev",
            templateName="network",
            templateMajorVersion="1",
            protonServiceRoleArn=ROLE,
            spec=env_spec(size="small"),
        )
        proton.get_waiter("environment_deployed").wait(name="dev", WaiterConfig=FAST)
        yield process
    finally:
        process.stop()


def _no_violations(page: Any, where: str) -> None:
    found = axe_violations(page)
    assert not found, f"{where}:\n" + "\n".join(found)


def test_a_service_is_created_step_by_step_without_javascript(server: BaryonProcess) -> None:
    proton = server.client("proton")
    with browser_page(javascript=False) as page:
        sign_in(page, server, USER, PASSWORD)
        page.goto(server.endpoint + "/portal/new/service")
        expect(page.locator('.steps [aria-current="step"]')).to_contain_text("Template")
        page.click("text=webapp")
        expect(page.locator('.steps [aria-current="step"]')).to_contain_text("Name and")
        page.fill("#name", "shop")
        page.fill("#description", "Sam's shop")
        page.fill("#instance-0-name", "alpha")
        page.select_option("#instance-0-environment", "dev")
        page.click("#next")
        expect(page.locator("legend").first).to_contain_text("Inputs of instance alpha")
        page.fill("#instance-0-input-image", "café-1")
        page.fill("#instance-0-input-port", "8080")
        page.click("#next")
        expect(page.locator("h1")).to_have_text("Review service shop")
        expect(page.locator("#review-spec")).to_contain_text("port: 8080")
        # The instance's CloudFormation, rendered with what was typed.
        expect(page.locator("#review-service-instance-alpha")).to_contain_text("shop-alpha-café-1")
        assert proton.list_services()["services"] == []  # nothing yet
        page.click("#back")
        expect(page.locator("#instance-0-input-image")).to_have_value("café-1")
        page.click("#back")
        expect(page.locator("#description")).to_have_value("Sam's shop")
        expect(page.locator("#instance-0-environment")).to_have_value("dev")
        page.click("#next")
        page.click("#next")
        page.click("#create-service")
        expect(page).to_have_url(server.endpoint + "/portal/services/shop")
    proton.get_waiter("service_created").wait(name="shop", WaiterConfig=FAST)
    instance = proton.get_service_instance(serviceName="shop", name="alpha")["serviceInstance"]
    assert "café-1" in instance["spec"]


def test_an_environment_is_reviewed_with_the_keyboard(server: BaryonProcess) -> None:
    proton = server.client("proton")
    with browser_page() as page:
        sign_in(page, server, USER, PASSWORD)
        page.goto(server.endpoint + "/portal/new/environment?template=network")
        _no_violations(page, "environment form")
        page.fill("#name", "stage")
        page.fill("#role", ROLE)
        page.focus("#input-vpc_cidr")
        page.keyboard.press("Enter")  # Enter asks for the review, never creates
        expect(page.locator("h1")).to_have_text("Review environment stage")
        expect(page.locator("main")).to_contain_text("stage-artifacts")
        _no_violations(page, "environment review")
        assert [e["name"] for e in proton.list_environments()["environments"]] == ["dev"]
        page.focus("#create")
        page.keyboard.press("Enter")
        expect(page).to_have_url(server.endpoint + "/portal/environments/stage")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_step_of_the_service_flow_passes_axe(server: BaryonProcess, scheme: str) -> None:
    with browser_page(width=390, color_scheme=scheme) as page:
        sign_in(page, server, USER, PASSWORD)
        page.goto(server.endpoint + "/portal/new/service")
        _no_violations(page, "choose a template")
        page.goto(server.endpoint + "/portal/new/service?template=webapp")
        page.click("#next")  # nothing filled in: the errors, beside their fields
        expect(page.locator(".error-summary")).to_be_visible()
        _no_violations(page, "name and environments, with errors")
        page.fill("#name", "axe")
        page.fill("#instance-0-name", "one")
        page.select_option("#instance-0-environment", "dev")
        page.click("#next")
        _no_violations(page, "inputs")
        page.click("#next")
        expect(page.locator("#review-spec")).to_be_visible()
        _no_violations(page, "review")
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"the review scrolls sideways by {overflow}px at 390 px"
