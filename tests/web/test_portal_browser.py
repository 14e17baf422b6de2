"""The portal in a real browser (Debian's Chromium, headless, through Playwright) against a
real ``baryon up``: one developer's story from signing in to deleting everything, with the
platform team publishing a new minor version through the API half-way.

Each main page's screenshot is kept in test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import create_user
from tests.support.bundles import SVC_SCHEMA, Registry, env_bundle, service_bundle, tar_gz
from tests.support.processes import BaryonProcess, start_baryon
from tests.web.conftest import ROLE

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
USER, PASSWORD = "dana", "a long and tested passphrase"
DEPLOY_TIMEOUT_MS = 90_000
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
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # pragma: no cover - scripts/test installs it
    sync_playwright = None  # type: ignore[assignment]


def _require_browser() -> None:
    missing = []
    if sync_playwright is None:
        missing.append("the Python package playwright")
    if not CHROMIUM.exists():
        missing.append(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    if missing:
        message = f"The browser tests need {' and '.join(missing)}; scripts/test installs them."
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _minor_bundle() -> dict[str, str]:
    files = service_bundle()
    files["schema/schema.yaml"] = SVC_SCHEMA.replace(
        '        image:\n          type: string\n          default: "nginx"\n',
        '        image:\n          type: string\n          default: "nginx"\n'
        "        replicas:\n          type: number\n          default: 2\n",
    )
    files["instance_infrastructure/cloudformation.yaml"] += (
        "  Replicas:\n    Value: '{{ service_instance.inputs.replicas }}'\n"
    )
    return files


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaryonProcess]:
    _require_browser()
    data_dir = tmp_path_factory.mktemp("portal")
    process = start_baryon(data_dir, env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.5"})
    try:
        create_user(process, USER, PASSWORD)
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def registry(server: BaryonProcess) -> Registry:
    """The platform team's side: templates published through the API, as usual."""
    proton = server.client("proton")
    registry = Registry(proton, server.client("s3"))
    proton.create_environment_template(
        name="network", displayName="Network", description="A VPC-sized environment"
    )
    version = registry.register(
        "environment", "network", tar_gz(env_bundle()), description="First network"
    )
    registry.publish("environment", "network", version)
    proton.create_service_template(
        name="webapp", displayName="Web application", description="A container behind a URL"
    )
    compatible = [{"templateName": "network", "majorVersion": "1"}]
    version = registry.register(
        "service", "webapp", tar_gz(service_bundle()), compatibleEnvironmentTemplates=compatible
    )
    registry.publish("service", "webapp", version)
    return registry


@pytest.fixture
def page(server: BaryonProcess) -> Iterator[Any]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="baryon-chromium-") as profile,
        sync_playwright() as playwright,
    ):
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1366, "height": 768},
        )
        context.set_default_timeout(20_000)
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.on("console", lambda m: errors.append(m.text) if _is_script_error(m) else None)
        try:
            yield tab
        finally:
            context.close()
        assert not errors, f"the browser reported errors: {errors}"


def _is_script_error(message: Any) -> bool:
    # Chromium also logs every 4xx page load as a console error; only script errors count.
    return message.type == "error" and not message.text.startswith("Failed to load resource")


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def stay_marker(page: Any) -> None:
    """Marks the document; if the marker survives, updates came without a reload."""
    page.evaluate("window.__baryonStay = true")


def assert_stayed(page: Any) -> None:
    assert page.evaluate("window.__baryonStay === true"), "the page reloaded instead of updating"


def fleet_row(page: Any, kind: str, template: str, resources: str) -> Any:
    return page.locator(f"#fleet-{kind}-{template}-{resources}")


def expect_counts(page: Any, row_id: str, **counts: int) -> None:
    row = page.locator(f"#{row_id}")
    for name, value in counts.items():
        expect(row.locator(f'[data-count="{name.replace("_", "-")}"]')).to_have_text(
            str(value), timeout=DEPLOY_TIMEOUT_MS
        )


def live_stacks(server: BaryonProcess) -> list[str]:
    cloudformation = server.client("cloudformation")
    return [
        s["StackName"]
        for s in cloudformation.list_stacks()["StackSummaries"]
        if s["StackStatus"] != "DELETE_COMPLETE"
    ]


def test_the_developer_story(server: BaryonProcess, registry: Registry, page: Page) -> None:
    proton = server.client("proton")
    portal = server.endpoint + "/portal/"

    # --- Sign in (with the keyboard), after one wrong password.
    page.goto(server.endpoint + "/")
    expect(page).to_have_url(re.compile(r"/portal/sign-in"))
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.fill("#name", USER)
    page.fill("#password", "not the password")
    page.press("#password", "Enter")
    expect(page.locator(".error-summary")).to_contain_text("do not match")
    shot(page, "01-sign-in")
    page.fill("#name", USER)
    page.focus("#password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(portal)
    expect(page.locator("h1")).to_have_text("Overview")
    shot(page, "02-overview")

    # --- The catalog, and a version's schema as documentation.
    page.click("nav >> text=Catalog")
    expect(page.locator("table").first).to_contain_text("Network")
    expect(page.locator("table").nth(1)).to_contain_text("Web application")
    shot(page, "03-catalog")
    page.click("text=Network")
    expect(page.locator("table")).to_contain_text("recommended")
    page.click("table >> text=1.0")
    schema = page.locator("table.schema")
    expect(schema).to_contain_text("vpc_cidr")
    expect(schema).to_contain_text("10.0.0.0/16")
    expect(schema).to_contain_text("small")
    shot(page, "04-template-version")

    # --- The fleet before anything is deployed.
    page.click("nav >> text=Fleet")
    expect_counts(page, "fleet-environment-network-environment", total=0)
    shot(page, "05-fleet-empty")

    # --- Create an environment from the form; wrong input first.
    page.goto(portal + "templates/environment/network/1.0")
    page.click("text=Create an environment from 1.0")
    expect(page.locator("#input-vpc_cidr")).to_have_value("10.0.0.0/16")  # default filled in
    expect(page.locator("#input-size")).to_have_value("small")
    expect(page.locator("#input-size option")).to_have_text(["small", "large"])  # enum choices
    page.fill("#name", "-dev")
    page.fill("#input-vpc_cidr", "ten.zero")
    page.select_option("#input-size", "large")
    page.click("#review")
    expect(page.locator("#name-error")).to_contain_text("letters, digits")
    expect(page.locator("#input-vpc_cidr-error")).to_contain_text(
        "must match the pattern given by the template: ([0-9]"
    )
    expect(page.locator("#input-vpc_cidr")).to_have_value("ten.zero")  # what was typed stays
    expect(page.locator("#input-size")).to_have_value("large")
    error_field = page.locator(".field.has-error", has=page.locator("#input-vpc_cidr"))
    expect(error_field.locator(".error-message")).to_be_visible()
    shot(page, "06-environment-form-errors")
    assert proton.list_environments()["environments"] == []  # nothing was created...
    assert not [s for s in live_stacks(server) if "dev" in s]  # ...and nothing deployed
    page.fill("#name", "dev")
    page.fill("#role", ROLE)
    page.fill("#input-vpc_cidr", "10.1.0.0/16")
    page.click("#review")
    expect(page.locator("#review-spec")).to_contain_text("10.1.0.0/16")
    expect(page.locator("main")).to_contain_text("dev-artifacts")  # the rendered template
    page.click("#create")
    expect(page).to_have_url(portal + "environments/dev")
    expect(page.locator(".flash")).to_contain_text("being created")
    stay_marker(page)
    expect(page.locator("#deployment-status")).to_contain_text(
        "succeeded", timeout=DEPLOY_TIMEOUT_MS
    )
    assert_stayed(page)
    expect(page.locator("#live")).to_contain_text("dev-artifacts")  # an output
    expect(page.locator("#live")).to_contain_text("Bucket")  # a provisioned resource
    shot(page, "07-environment")
    environment = proton.get_environment(name="dev")["environment"]
    assert environment["deploymentStatus"] == "SUCCEEDED"
    assert "size: large" in environment["spec"] and "10.1.0.0/16" in environment["spec"]

    # --- Create a service with two instances; watch both deploy live.
    page.click("nav >> text=Services")
    page.click("text=Create a service")
    page.click("text=Web application")
    page.fill("#name", "shop")
    page.fill(
        "#repositoryConnectionArn",
        "arn:aws:codestar-connections:us-east-1:123456789012:connection/shop",
    )
    page.fill("#repositoryId", "org/shop")
    page.fill("#branchName", "main")
    page.fill("#instance-0-name", "alpha")
    page.select_option("#instance-0-environment", "dev")
    page.click("#add-instance")
    expect(page.locator("fieldset.instance")).to_have_count(2)
    expect(page.locator("#instance-0-name")).to_have_value("alpha")  # kept across the reload
    page.fill("#instance-1-name", "beta")
    page.select_option("#instance-1-environment", "dev")
    page.click("#next")
    expect(page.locator("#pipeline-input-dockerfile")).to_have_value("Dockerfile")
    page.fill("#instance-0-input-port", "8080")
    expect(page.locator("#instance-1-input-port")).to_have_value("80")  # defaults for the new one
    page.fill("#instance-1-input-port", "9090")
    shot(page, "08-service-form")
    page.click("#next")
    expect(page.locator("#review-spec")).to_contain_text("port: 9090")
    page.click("#create-service")
    expect(page).to_have_url(portal + "services/shop")
    stay_marker(page)
    shot(page, "09-service-deploying")
    for row in ("#instance-alpha", "#instance-beta", "#pipeline"):
        expect(page.locator(f"{row} .deployment-status")).to_contain_text(
            "succeeded", timeout=DEPLOY_TIMEOUT_MS
        )
    expect(page.locator("#service-status")).to_contain_text("active", timeout=DEPLOY_TIMEOUT_MS)
    assert_stayed(page)
    shot(page, "10-service")
    instances = proton.list_service_instances(serviceName="shop")["serviceInstances"]
    assert sorted((i["name"], i["deploymentStatus"]) for i in instances) == [
        ("alpha", "SUCCEEDED"),
        ("beta", "SUCCEEDED"),
    ]

    # --- The fleet: everything up to date.
    page.click("nav >> text=Fleet")
    expect_counts(page, "fleet-environment-network-environment", total=1, up_to_date=1)
    expect_counts(page, "fleet-service-webapp-instance", total=2, up_to_date=2, behind_minor=0)
    expect_counts(page, "fleet-service-webapp-pipeline", total=1, up_to_date=1)
    shot(page, "11-fleet-up-to-date")

    # --- The platform team publishes 1.1 through the API; the fleet falls behind.
    compatible = [{"templateName": "network", "majorVersion": "1"}]
    minor = registry.register(
        "service",
        "webapp",
        tar_gz(_minor_bundle()),
        majorVersion="1",
        compatibleEnvironmentTemplates=compatible,
    )
    assert minor["status"] == "DRAFT", minor.get("statusMessage")
    registry.publish("service", "webapp", minor)
    page.reload()
    expect_counts(page, "fleet-service-webapp-instance", up_to_date=0, behind_minor=2)
    expect_counts(page, "fleet-service-webapp-pipeline", behind_minor=1)
    shot(page, "12-fleet-behind")

    # --- Upgrade alpha to 1.1 after seeing what will change.
    page.goto(portal + "services/shop/instances/alpha")
    page.click("#upgrade-minor")
    expect(page.locator("h1")).to_contain_text("from 1.0 to 1.1")
    diff = page.locator("pre.diff")
    expect(diff.locator(".diff-add")).to_contain_text(["Replicas:"])
    expect(diff).to_contain_text("Value: '2'")
    expect(page.locator("table.input-changes tr.change-added")).to_contain_text("replicas")
    shot(page, "13-upgrade-preview")
    page.focus("#confirm-upgrade")
    page.keyboard.press("Enter")
    expect(page).to_have_url(portal + "services/shop/instances/alpha")
    expect(page.locator("#deployment-status")).to_contain_text(
        "succeeded", timeout=DEPLOY_TIMEOUT_MS
    )
    expect(page.locator("#template-version")).to_have_text("1.1")
    expect(page.locator("#live")).to_contain_text("Replicas")
    shot(page, "14-instance-upgraded")
    alpha = proton.get_service_instance(serviceName="shop", name="alpha")["serviceInstance"]
    assert (alpha["templateMajorVersion"], alpha["templateMinorVersion"]) == ("1", "1")

    # --- The fleet: one action upgrades the rest (beta and the pipeline).
    page.click("nav >> text=Fleet")
    expect_counts(page, "fleet-service-webapp-instance", up_to_date=1, behind_minor=1)
    page.click("#upgrade-service-webapp-minor")
    expect(page.locator("table")).to_contain_text("beta")
    expect(page.locator("table")).to_contain_text("pipeline")
    shot(page, "15-fleet-upgrade-confirm")
    page.click("#confirm-fleet-upgrade")
    expect(page).to_have_url(portal + "fleet")
    expect(page.locator(".flash")).to_contain_text("Started 2 upgrade(s)")
    stay_marker(page)
    expect_counts(page, "fleet-service-webapp-instance", up_to_date=2, behind_minor=0)
    expect_counts(page, "fleet-service-webapp-pipeline", up_to_date=1, behind_minor=0)
    assert_stayed(page)
    shot(page, "16-fleet-upgraded")

    # --- Deployment history, and one deployment's events.
    page.click("nav >> text=Deployments")
    expect(page.locator("table")).to_contain_text("alpha")
    shot(page, "17-deployments")
    page.goto(portal + "services/shop/instances/alpha")
    page.locator("#live table").last.locator("a").first.click()
    expect(page.locator("#deployment-status")).to_contain_text("succeeded")
    expect(page.locator("#events")).to_contain_text("Deploying stack")
    expect(page.locator("dl.facts")).to_contain_text("1.0 → 1.1")
    shot(page, "18-deployment")

    # --- Delete everything, with confirmation.
    page.goto(portal + "environments/dev/delete")
    expect(page.locator(".problem")).to_contain_text("alpha")  # instances still run in it
    page.goto(portal + "services/shop")
    page.click("#delete")
    expect(page.locator("h1")).to_have_text("Delete service shop?")
    shot(page, "19-confirm-delete")
    page.click("#confirm-delete")
    expect(page.locator("#live")).to_contain_text("no longer exists", timeout=DEPLOY_TIMEOUT_MS)
    page.goto(portal + "environments/dev")
    page.click("#delete")
    page.click("#confirm-delete")
    expect(page.locator("#live")).to_contain_text("no longer exists", timeout=DEPLOY_TIMEOUT_MS)
    page.click("nav >> text=Fleet")
    expect_counts(page, "fleet-environment-network-environment", total=0)
    expect_counts(page, "fleet-service-webapp-instance", total=0)
    shot(page, "20-fleet-after-delete")
    assert proton.list_environments()["environments"] == []
    assert proton.list_services()["services"] == []
    assert not [s for s in live_stacks(server) if "dev" in s or "shop" in s]

    # --- Signing out ends the session.
    page.click("text=Sign out")
    expect(page).to_have_url(re.compile(r"/portal/sign-in"))
    page.goto(portal + "fleet")
    expect(page).to_have_url(re.compile(r"/portal/sign-in\?next="))


def test_errors_are_pages_not_tracebacks(server: BaryonProcess, page: Page) -> None:
    page.goto(server.endpoint + "/portal/sign-in")
    page.fill("#name", USER)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    response = page.goto(server.endpoint + "/portal/environments/nowhere")
    assert response is not None and response.status == 404
    expect(page.locator(".problem")).to_contain_text("was not found")
    response = page.goto(server.endpoint + "/portal/no/such/page")
    assert response is not None and response.status == 404
    assert "Traceback" not in page.content()
    shot(page, "21-not-found")
