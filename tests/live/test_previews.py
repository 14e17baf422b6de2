"""One preview for every front door: the ``baryon`` API's GetDeploymentPreview (boto3 against a
real ``baryon up``) and the portal (its upgrade page over HTTP, and the operation it calls, run
in-process on the server's database) show the same files, inputs and problems for the same
resource and target, because both call operations/previews.py. A preview deploys nothing.
"""

from __future__ import annotations

import difflib
import html
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from baryon.cli.main import cli
from baryon.operations import in_process, previews
from baryon.operations.deployed_resources import Upgrade
from baryon.operations.errors import NotFound
from baryon.operations.previews import Preview, PreviewRequest
from baryon.operations.resource_keys import environment_key, instance_key, pipeline_key
from baryon.runtime import Runtime, build_runtime
from baryon.service_models.baryon import PreviewDeploymentType
from baryon.settings import load_settings
from baryon.store.tables import Job
from tests.support.bundles import ENV_CFN, ENV_SCHEMA, Registry, env_bundle
from tests.support.deploying import (
    FAST,
    REPO,
    env_spec,
    error_message,
    live_stacks,
    publish_environment_template,
    publish_service_template,
    service_spec,
)
from tests.support.processes import BaryonProcess, own_baryon

SUFFIX = uuid.uuid4().hex[:6]
ENV_TEMPLATE, SVC_TEMPLATE = f"penv-{SUFFIX}", f"psvc-{SUFFIX}"
ENV, SVC = f"prev{SUFFIX}", f"pweb-{SUFFIX}"
USER, PASSWORD = "previewer", "a password long enough"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
DIFF_LINE = re.compile(r'<span class="diff-(add|del)">([^<]*)</span>')

# Version 1.1 adds an input (with a default) and an output that reads it.
ENV_SCHEMA_1_1 = ENV_SCHEMA + '        retention:\n          type: string\n          default: "7"\n'
ENV_CFN_1_1 = ENV_CFN + "  Retention:\n    Value: '{{ environment.inputs.retention }}'\n"


server = own_baryon("previews", env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.01"})


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    return server.client("proton")


@pytest.fixture(scope="module")
def baryon(server: BaryonProcess) -> Any:
    return server.client("baryon")


@pytest.fixture(scope="module")
def deployed(server: BaryonProcess, proton: Any) -> None:
    """An environment on 1.0 while 1.1 is published, and a service (one instance, a
    pipeline) on it, all deployed."""
    registry = Registry(proton, server.client("s3"))
    publish_environment_template(registry, ENV_TEMPLATE)
    proton.create_environment(
        protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
        name=ENV,
        templateName=ENV_TEMPLATE,
        templateMajorVersion="1",
        spec=env_spec(size="large"),
    )
    proton.get_waiter("environment_deployed").wait(name=ENV, WaiterConfig=FAST)
    files = env_bundle()
    files["schema/schema.yaml"] = ENV_SCHEMA_1_1
    files["infrastructure/cloudformation.yaml"] = ENV_CFN_1_1
    publish_environment_template(registry, ENV_TEMPLATE, files, major="1")
    publish_service_template(registry, SVC_TEMPLATE, [(ENV_TEMPLATE, "1")])
    proton.create_service(
        name=SVC,
        templateName=SVC_TEMPLATE,
        templateMajorVersion="1",
        spec=service_spec([("one", ENV, {"port": 8001})], pipeline={"dockerfile": "Dockerfile"}),
        **REPO,
    )
    proton.get_waiter("service_created").wait(name=SVC, WaiterConfig=FAST)


@pytest.fixture(scope="module")
def runtime(server: BaryonProcess, deployed: None) -> Iterator[Runtime]:
    """The server's own database, for calling the portal's operations in-process."""
    runtime = build_runtime(load_settings({"data_dir": server.data_dir}, environ={}), migrate=False)
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def browser(server: BaryonProcess, deployed: None) -> Iterator[httpx.Client]:
    created = CliRunner().invoke(
        cli,
        ["users", "create", USER, "--password-stdin", "--data-dir", str(server.data_dir)],
        input=PASSWORD + "\n",
    )
    assert created.exit_code == 0, created.output
    with httpx.Client(base_url=server.endpoint, timeout=30) as client:
        token = CSRF.search(client.get("/portal/sign-in").text)
        assert token is not None
        signed_in = client.post(
            "/portal/sign-in",
            data={
                "csrf_token": token.group(1),
                "name": USER,
                "password": PASSWORD,
                "next": "/portal/",
            },
        )
        assert signed_in.status_code in (200, 303), signed_in.text
        yield client


def _portal_context(runtime: Runtime) -> Any:
    return in_process.context(runtime, in_process.portal_caller(USER), "upgrade_preview")


def _as_wire(preview: Preview) -> dict[str, Any]:
    """An in-process preview in the API's terms, written out here so that the comparison
    does not lean on the API's own translation."""
    wire: dict[str, Any] = {
        "currentTemplateMajorVersion": str(preview.current_major),
        "currentTemplateMinorVersion": str(preview.current_minor),
        "targetTemplateMajorVersion": str(preview.target_major),
        "targetTemplateMinorVersion": str(preview.target_minor),
        "changed": preview.changed,
        "inputs": [],
        "files": [],
    }
    changes = {"added": "ADDED", "removed": "REMOVED", "changed": "CHANGED", "same": "UNCHANGED"}
    for change in preview.inputs:
        entry = {"name": change.name, "change": changes[change.state]}
        if change.state != "added":
            entry["currentValue"] = json.dumps(change.before)
        if change.state != "removed":
            entry["proposedValue"] = json.dumps(change.after)
        wire["inputs"].append(entry)
    for diff in preview.files:
        file: dict[str, Any] = {"path": diff.name, "changed": diff.changed}
        if diff.before is not None:
            file["currentText"] = diff.before
        if diff.after is not None:
            file["proposedText"] = diff.after
        wire["files"].append(file)
    if preview.problem is not None:
        wire["problem"] = preview.problem
    if preview.note is not None:
        wire["note"] = preview.note
    return wire


def _api(baryon: Any, **request: Any) -> dict[str, Any]:
    answer = baryon.get_deployment_preview(**request)
    answer.pop("ResponseMetadata")
    return dict(answer)


def test_the_api_and_the_portal_preview_an_upgrade_alike(
    baryon: Any, runtime: Runtime, browser: httpx.Client
) -> None:
    api = _api(baryon, environmentName=ENV, deploymentType="MINOR_VERSION")
    found = previews.upgrade_preview(_portal_context(runtime), environment_key(ENV), Upgrade.MINOR)
    assert found.preview is not None
    assert api == _as_wire(found.preview)

    # What the upgrade shows: 1.0 -> 1.1, a new input with its default, a new output.
    assert (api["currentTemplateMinorVersion"], api["targetTemplateMinorVersion"]) == ("0", "1")
    assert {"name": "retention", "change": "ADDED", "proposedValue": '"7"'} in api["inputs"]
    [template] = api["files"]
    assert template["changed"] and "Retention" not in template["currentText"]
    assert "Value: '7'" in template["proposedText"]

    # The portal's page shows the diff of exactly those two texts.
    page = browser.get(f"/portal/environments/{ENV}/upgrade/minor")
    assert page.status_code == 200, page.text
    assert "from 1.0 to 1.1" in page.text
    shown = [(kind, html.unescape(text)) for kind, text in DIFF_LINE.findall(page.text)]
    old = template["currentText"].splitlines()
    new = template["proposedText"].splitlines()
    expected = [
        ("add" if line.startswith("+") else "del", line)
        for line in difflib.unified_diff(old, new, lineterm="")
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]
    assert shown == expected and expected


def test_the_same_spec_and_target_give_the_same_preview_of_instances_and_pipelines(
    baryon: Any, runtime: Runtime
) -> None:
    spec = service_spec([("one", ENV, {"port": 9001})], pipeline={"dockerfile": "Dockerfile.ci"})
    context = _portal_context(runtime)
    for key, names in (
        (instance_key(SVC, "one"), {"serviceName": SVC, "serviceInstanceName": "one"}),
        (pipeline_key(SVC), {"serviceName": SVC}),
    ):
        api = _api(baryon, **names, deploymentType="CURRENT_VERSION", spec=spec)
        in_portal = previews.preview_deployment(
            context, PreviewRequest(key, PreviewDeploymentType.CURRENT_VERSION, spec=spec)
        )
        assert api == _as_wire(in_portal)
        assert api["changed"] and "problem" not in api
    instance = _api(
        baryon,
        serviceName=SVC,
        serviceInstanceName="one",
        deploymentType="CURRENT_VERSION",
        spec=spec,
    )
    assert {
        "name": "port",
        "change": "CHANGED",
        "currentValue": "8001",
        "proposedValue": "9001",
    } in instance["inputs"]


def test_a_bad_spec_and_a_bad_request_are_refused_alike(baryon: Any, runtime: Runtime) -> None:
    bad = env_spec(size="huge")
    api = _api(baryon, environmentName=ENV, deploymentType="MINOR_VERSION", spec=bad)
    request = PreviewRequest(environment_key(ENV), PreviewDeploymentType.MINOR_VERSION, spec=bad)
    in_portal = previews.preview_deployment(_portal_context(runtime), request)
    assert api == _as_wire(in_portal)
    assert "huge" in api["problem"] and api["files"] == [] and api["inputs"] == []

    with pytest.raises(baryon.exceptions.ResourceNotFoundException) as caught:
        baryon.get_deployment_preview(environmentName="nowhere", deploymentType="MINOR_VERSION")
    with pytest.raises(NotFound) as in_process_error:
        previews.preview_deployment(
            _portal_context(runtime),
            PreviewRequest(environment_key("nowhere"), PreviewDeploymentType.MINOR_VERSION),
        )
    assert error_message(caught) == in_process_error.value.message

    with pytest.raises(baryon.exceptions.ValidationException) as neither:
        baryon.get_deployment_preview(deploymentType="CURRENT_VERSION")
    assert "environmentName" in error_message(neither)


def test_a_preview_deploys_nothing(
    server: BaryonProcess, proton: Any, baryon: Any, runtime: Runtime
) -> None:
    def jobs() -> int:
        with runtime.db.session() as session:
            return int(session.scalar(select(func.count()).select_from(Job)) or 0)

    def deployments() -> int:
        return len(proton.list_deployments(environmentName=ENV)["deployments"])

    cloudformation = server.client("cloudformation")
    before = (jobs(), deployments(), live_stacks(cloudformation, SUFFIX))
    environment = proton.get_environment(name=ENV)["environment"]
    _api(baryon, environmentName=ENV, deploymentType="MINOR_VERSION")
    _api(baryon, environmentName=ENV, deploymentType="CURRENT_VERSION", spec=env_spec())
    _api(baryon, serviceName=SVC, deploymentType="CURRENT_VERSION")
    assert (jobs(), deployments(), live_stacks(cloudformation, SUFFIX)) == before
    after = proton.get_environment(name=ENV)["environment"]
    assert after["deploymentStatus"] == environment["deploymentStatus"] == "SUCCEEDED"
    assert after["templateMinorVersion"] == environment["templateMinorVersion"] == "0"
    assert after.get("lastDeploymentAttemptedAt") == environment.get("lastDeploymentAttemptedAt")
