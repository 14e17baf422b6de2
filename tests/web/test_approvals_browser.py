"""Approvals and deletion protection in a real browser (Debian's Chromium, headless, through
Playwright) against a real ``baryon up``: a change to an instance on a prod-tagged environment,
requested through the API, waits; the approver signs in to the portal, sees the preview on the
Approvals page and approves it, and it deploys on the local cloud; a second one is rejected
and never reaches the cloud. A protected environment or service offers no Delete.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.bundles import Registry
from tests.support.deploying import (
    FAST,
    REPO,
    env_spec,
    instance_settled,
    publish_environment_template,
    publish_service_template,
    service_spec,
    stack,
    stack_outputs,
)
from tests.support.processes import BaryonProcess, clean_environment, start_baryon
from tests.web.test_portal_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SCREENSHOTS,
    _is_script_error,
    _require_browser,
    shot,
)

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - scripts/test installs it
    sync_playwright = None  # type: ignore[assignment]

SUFFIX = uuid.uuid4().hex[:6]
ENV_TEMPLATE, SVC_TEMPLATE = f"benv-{SUFFIX}", f"bsvc-{SUFFIX}"
PROD, SVC = f"prod{SUFFIX}", f"shop{SUFFIX}"
USER, PASSWORD = "erin", "an approver's long passphrase"
RULE = """
permit (principal, action == Baryon::Action::"RequireApproval", resource)
when { resource.environment.hasTag("stage") && resource.environment.getTag("stage") == "prod" };
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaryonProcess]:
    _require_browser()
    data_dir = tmp_path_factory.mktemp("approvals-portal")
    process = start_baryon(data_dir, env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.2"})
    try:
        created = subprocess.run(
            [
                sys.executable,
                "-m",
                "baryon.cli.main",
                "users",
                "create",
                USER,
                "--role",
                "admin",
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
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    """The requester's side: the server's own key, through the API. Nothing waits yet: the
    rule is put once the service runs."""
    proton = server.client("proton")
    registry = Registry(proton, server.client("s3"))
    publish_environment_template(registry, ENV_TEMPLATE)
    proton.create_environment(
        protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
        name=PROD,
        templateName=ENV_TEMPLATE,
        templateMajorVersion="1",
        spec=env_spec(size="large"),
        tags=[{"key": "stage", "value": "prod"}],
    )
    proton.get_waiter("environment_deployed").wait(name=PROD, WaiterConfig=FAST)
    publish_service_template(registry, SVC_TEMPLATE, [(ENV_TEMPLATE, "1")])
    proton.create_service(
        name=SVC,
        templateName=SVC_TEMPLATE,
        templateMajorVersion="1",
        spec=service_spec([("one", PROD, {"port": 8001})]),
        **REPO,
    )
    proton.get_waiter("service_created").wait(name=SVC, WaiterConfig=FAST)
    server.client("baryon").put_approval_rule(name="prod", policy=RULE)
    return proton


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
            tab.goto(server.endpoint + "/portal/sign-in")
            tab.fill("#name", USER)
            tab.fill("#password", PASSWORD)
            tab.press("#password", "Enter")
            expect(tab.locator("h1")).to_have_text("Overview")
            yield tab
        finally:
            context.close()
        assert not errors, f"the browser reported errors: {errors}"


def _waiting_id(server: BaryonProcess, instance: str) -> str:
    pending = server.client("baryon").list_approvals(status="PENDING")["approvals"]
    (found,) = [a for a in pending if a.get("serviceInstanceName") == instance]
    return str(found["deploymentId"])


def test_an_approver_sees_the_preview_approves_and_it_deploys(
    server: BaryonProcess, proton: Any, page: Any
) -> None:
    proton.update_service_instance(
        serviceName=SVC,
        name="one",
        deploymentType="CURRENT_VERSION",
        spec=service_spec([("one", PROD, {"port": 8002})]),
    )
    deployment_id = _waiting_id(server, "one")

    page.goto(server.endpoint + f"/portal/deployments/{deployment_id}")
    expect(page.locator("#deployment-status")).to_contain_text("Waiting for approval")

    page.click("nav >> text=Approvals")
    waiting = page.locator("#waiting-approvals")
    expect(waiting).to_contain_text(PROD)
    expect(waiting).to_contain_text("approval rule prod")
    shot(page, "approvals-01-waiting")
    waiting.locator("a").first.click()
    inputs = page.locator("#approval-inputs")
    expect(inputs).to_contain_text("8001")
    expect(inputs).to_contain_text("8002")
    expect(page.locator("pre.diff").first).to_contain_text("8002")
    shot(page, "approvals-02-preview")
    page.fill("#approval-comment", "reviewed the diff")
    page.click("#approve")
    expect(page.locator("#approval-status")).to_contain_text(f"approved by user/{USER}")
    expect(page.locator("#approval-status")).to_contain_text("reviewed the diff")

    assert instance_settled(proton, SVC, "one")["deploymentStatus"] == "SUCCEEDED"
    deployed = stack(server.client("cloudformation"), "service-instance", SVC, "one")
    assert deployed is not None and "8002" in str(stack_outputs(deployed))


def test_a_rejected_instance_never_reaches_the_cloud(
    server: BaryonProcess, proton: Any, page: Any
) -> None:
    proton.create_service_instance(
        serviceName=SVC, name="two", spec=service_spec([("two", PROD, {"port": 9000})])
    )
    deployment_id = _waiting_id(server, "two")
    page.goto(server.endpoint + f"/portal/approvals/{deployment_id}")
    page.fill("#approval-comment", "not before the sale")
    page.click("#reject")
    expect(page.locator("#approval-status")).to_contain_text("rejected")
    assert instance_settled(proton, SVC, "two")["deploymentStatus"] == "CANCELLED"
    assert stack(server.client("cloudformation"), "service-instance", SVC, "two") is None
    page.goto(server.endpoint + "/portal/approvals")
    expect(page.locator("#no-waiting-approvals")).to_be_visible()


def test_a_protected_environment_and_service_offer_no_delete(
    server: BaryonProcess, proton: Any, page: Any
) -> None:
    baryon = server.client("baryon")
    baryon.set_deletion_protection(resourceType="ENVIRONMENT", name=PROD, enabled=True)
    page.goto(server.endpoint + f"/portal/environments/{PROD}/delete")
    expect(page.locator(".problem")).to_contain_text("protected from deletion")
    expect(page.locator(".problem")).to_contain_text(f"baryon unprotect environment {PROD}")
    expect(page.locator("#confirm-delete")).to_have_count(0)

    arn = proton.get_service(name=SVC)["service"]["arn"]
    proton.tag_resource(
        resourceArn=arn, tags=[{"key": "baryon:deletion-protection", "value": "true"}]
    )
    page.goto(server.endpoint + f"/portal/services/{SVC}/delete")
    expect(page.locator(".problem")).to_contain_text("baryon:deletion-protection=true")
    expect(page.locator("#confirm-delete")).to_have_count(0)
    shot(page, "approvals-03-protected")
    proton.untag_resource(resourceArn=arn, tagKeys=["baryon:deletion-protection"])
    page.goto(server.endpoint + f"/portal/services/{SVC}/delete")
    expect(page.locator("#confirm-delete")).to_be_visible()
    assert re.search("protected", page.content()) is None
