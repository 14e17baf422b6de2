"""Rollback of service instances, through boto3 against a real `baryon up` and its local
cloud: one instance after an upgrade, then a wave of two, each previewed first, each a new
deployment linked to the one it takes back and recorded in the audit trail; a rollback with
nothing to go back to, or while a deployment is in flight, is refused with the reason.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from botocore.exceptions import ClientError
from click.testing import CliRunner

from baryon.cli.main import cli
from baryon.provisioners.names import stack_name_for
from tests.support.bundles import SVC_CFN, Registry, service_bundle
from tests.support.deploying import (
    FAST,
    env_spec,
    error_message,
    instance_settled,
    publish_environment_template,
    publish_service_template,
    service_spec,
)
from tests.support.processes import BaryonProcess, own_baryon

SUFFIX = uuid.uuid4().hex[:6]
ENV_TEMPLATE, SVC_TEMPLATE, ENV, SVC = (
    f"bkenv-{SUFFIX}",
    f"bksvc-{SUFFIX}",
    f"bk{SUFFIX}",
    f"bkweb-{SUFFIX}",
)
INSTANCES = ("one", "two", "three", "fresh", "held", "cli", "web")
USER, PASSWORD = "rollbacker", "a password long enough"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
HOLD_RULE = """
permit (principal, action == Baryon::Action::"RequireApproval", resource)
when { resource.hasTag("hold") };
"""

server = own_baryon("rollbacks", env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.01"})


def _bundle(version: str, marker: bool) -> dict[str, str]:
    """Version 1.1 adds a resource (Marker): rolling back deletes it."""
    files = service_bundle(pipeline=False)
    body, outputs = SVC_CFN.split("Outputs:\n", 1)
    if marker:
        body += (
            "  Marker:\n    Type: AWS::SSM::Parameter\n    Properties:\n"
            "      Name: '/marker/{{ service.name }}/{{ service_instance.name }}'\n"
            "      Type: String\n      Value: marked\n"
        )
    body += "Outputs:\n" + outputs
    body += f"  Generation:\n    Value: '{version}'\n"
    files["instance_infrastructure/cloudformation.yaml"] = body
    return files


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    return server.client("proton")


@pytest.fixture(scope="module")
def baryon(server: BaryonProcess) -> Any:
    return server.client("baryon")


@pytest.fixture(scope="module")
def cloudformation(server: BaryonProcess) -> Any:
    return server.client("cloudformation")


@pytest.fixture(scope="module")
def deployed(server: BaryonProcess, proton: Any, baryon: Any) -> None:
    """Five instances on 1.0 (image nginx), then 1.1 published; "held" waits for approval
    whenever it deploys."""
    registry = Registry(proton, server.client("s3"))
    publish_environment_template(registry, ENV_TEMPLATE)
    proton.create_environment(
        protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
        name=ENV,
        templateName=ENV_TEMPLATE,
        templateMajorVersion="1",
        spec=env_spec(),
    )
    proton.get_waiter("environment_deployed").wait(name=ENV, WaiterConfig=FAST)
    kinds = {"pipelineProvisioning": "CUSTOMER_MANAGED"}
    publish_service_template(
        registry, SVC_TEMPLATE, [(ENV_TEMPLATE, "1")], _bundle("1.0", False), **kinds
    )
    proton.create_service(
        name=SVC,
        templateName=SVC_TEMPLATE,
        templateMajorVersion="1",
        spec=service_spec([(name, ENV, {"image": "nginx"}) for name in INSTANCES]),
    )
    proton.get_waiter("service_created").wait(name=SVC, WaiterConfig=FAST)
    publish_service_template(
        registry, SVC_TEMPLATE, [(ENV_TEMPLATE, "1")], _bundle("1.1", True), major="1", **kinds
    )
    held = proton.get_service_instance(serviceName=SVC, name="held")["serviceInstance"]
    proton.tag_resource(resourceArn=held["arn"], tags=[{"key": "hold", "value": "yes"}])
    baryon.put_approval_rule(name=f"hold-{SUFFIX}", policy=HOLD_RULE)


def _upgrade(proton: Any, name: str, image: str) -> str:
    """Moves ``name`` to 1.1 with ``image``; the upgrade's deployment id once it succeeded."""
    spec = service_spec([(name, ENV, {"image": image})])
    proton.update_service_instance(
        serviceName=SVC,
        name=name,
        deploymentType="MINOR_VERSION",
        templateMajorVersion="1",
        templateMinorVersion="1",
        spec=spec,
    )
    view = instance_settled(proton, SVC, name)
    assert view["deploymentStatus"] == "SUCCEEDED", view
    return str(view["lastSucceededDeploymentId"])


def _instance_request(name: str) -> dict[str, str]:
    return {"resourceType": "SERVICE_INSTANCE", "serviceName": SVC, "serviceInstanceName": name}


def _wait_succeeded(proton: Any, deployment_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        deployment = proton.get_deployment(id=deployment_id)["deployment"]
        if deployment["deploymentStatus"] not in ("IN_PROGRESS", "CANCELLING"):
            assert deployment["deploymentStatus"] == "SUCCEEDED", deployment
            return dict(deployment)
        assert time.monotonic() < deadline, deployment
        time.sleep(0.2)


def _assert_back_on_1_0(proton: Any, cloudformation: Any, name: str) -> None:
    instance = proton.get_service_instance(serviceName=SVC, name=name)["serviceInstance"]
    assert (instance["templateMajorVersion"], instance["templateMinorVersion"]) == ("1", "0")
    deployment = proton.get_deployment(id=instance["lastSucceededDeploymentId"])["deployment"]
    spec = yaml.safe_load(deployment["targetState"]["serviceInstance"]["spec"])
    assert next(entry for entry in spec["instances"] if entry["name"] == name)["spec"] == {
        "image": "nginx"
    }
    body = str(
        cloudformation.get_template(StackName=stack_name_for("service-instance", SVC, name))[
            "TemplateBody"
        ]
    )
    assert "Marker" not in body and "'1.0'" in body and "nginx" in body


def test_one_instance_goes_back_to_its_old_version_and_spec_after_an_upgrade(
    deployed: None, proton: Any, baryon: Any, cloudformation: Any
) -> None:
    upgrade = _upgrade(proton, "one", "httpd")
    body = cloudformation.get_template(StackName=stack_name_for("service-instance", SVC, "one"))
    assert "Marker" in str(body["TemplateBody"])

    preview = baryon.preview_rollback(**_instance_request("one"))

    assert preview["reversesDeploymentId"] == upgrade
    assert (preview["targetTemplateMajorVersion"], preview["targetTemplateMinorVersion"]) == (
        "1",
        "0",
    )
    assert "problem" not in preview and preview["changed"]
    image = next(change for change in preview["inputs"] if change["name"] == "image")
    assert (image["currentValue"], image["proposedValue"]) == ('"httpd"', '"nginx"')
    assert [(loss["kind"], loss["name"]) for loss in preview["losses"]] == [("DELETED", "Marker")]

    started = baryon.rollback_resource(
        **_instance_request("one"), previewToken=preview["previewToken"]
    )["rollback"]

    assert started["reversesDeploymentId"] == upgrade
    assert started["targetDeploymentId"] == preview["targetDeploymentId"]
    _wait_succeeded(proton, started["deployment"]["id"])
    _assert_back_on_1_0(proton, cloudformation, "one")
    # The old records stay as they were; the new one names the one it takes back.
    assert proton.get_deployment(id=upgrade)["deployment"]["deploymentStatus"] == "SUCCEEDED"
    links = baryon.get_deployment_rollbacks(id=started["deployment"]["id"])
    assert links["reversesDeploymentId"] == upgrade
    assert baryon.get_deployment_rollbacks(id=upgrade)["reversedBy"] == [
        started["deployment"]["id"]
    ]
    records = baryon.list_audit_records(operation="RollbackResource")["records"]
    assert any(
        record["result"] == "SUCCEEDED"
        and any("service-instance/one" in arn for arn in record["resources"])
        for record in records
    ), records
    # The preview it was started from is used up: the resource moved since.
    with pytest.raises(ClientError) as caught:
        baryon.rollback_resource(**_instance_request("one"), previewToken=preview["previewToken"])
    assert caught.value.response["Error"]["Code"] == "ConflictException"
    assert "stale" in error_message(caught)


def test_a_wave_of_instances_goes_back_together_each_previewed_and_recorded(
    deployed: None, proton: Any, baryon: Any, cloudformation: Any
) -> None:
    upgrades = {name: _upgrade(proton, name, f"img-{name}") for name in ("two", "three")}
    previews = {name: baryon.preview_rollback(**_instance_request(name)) for name in upgrades}
    assert all(p["losses"] and p["previewToken"] for p in previews.values())

    started = baryon.rollback_resources(
        resources=[
            {**_instance_request(name), "previewToken": previews[name]["previewToken"]}
            for name in upgrades
        ]
    )["rollbacks"]

    assert [s["reversesDeploymentId"] for s in started] == list(upgrades.values())
    for name, rollback in zip(upgrades, started, strict=True):
        _wait_succeeded(proton, rollback["deployment"]["id"])
        _assert_back_on_1_0(proton, cloudformation, name)
        assert baryon.get_deployment_rollbacks(id=upgrades[name])["reversedBy"] == [
            rollback["deployment"]["id"]
        ]
    records = baryon.list_audit_records(operation="RollbackResources")["records"]
    assert records and records[0]["result"] == "SUCCEEDED", records
    assert any("service-instance/two" in arn for arn in records[0]["resources"]), records


def test_a_resource_without_an_earlier_good_deployment_is_refused_with_the_reason(
    deployed: None, baryon: Any
) -> None:
    preview = baryon.preview_rollback(**_instance_request("fresh"))

    assert "previewToken" not in preview and "targetDeploymentId" not in preview
    assert "no successful deployment before" in preview["problem"]
    with pytest.raises(ClientError) as caught:
        baryon.rollback_resource(**_instance_request("fresh"), previewToken="00")
    assert caught.value.response["Error"]["Code"] == "ConflictException"
    assert "cannot be rolled back" in error_message(caught)


def test_a_rollback_while_a_deployment_is_in_flight_is_refused(
    deployed: None, proton: Any, baryon: Any
) -> None:
    proton.update_service_instance(
        serviceName=SVC,
        name="held",
        deploymentType="MINOR_VERSION",
        templateMajorVersion="1",
        templateMinorVersion="1",
        spec=service_spec([("held", ENV, {"image": "httpd"})]),
    )
    held = proton.get_service_instance(serviceName=SVC, name="held")["serviceInstance"]
    assert held["deploymentStatus"] == "IN_PROGRESS"  # waiting for its approval
    try:
        preview = baryon.preview_rollback(**_instance_request("held"))
        assert "deployment in progress" in preview["problem"]
        assert "previewToken" not in preview
        with pytest.raises(ClientError) as caught:
            baryon.rollback_resource(**_instance_request("held"), previewToken="00")
        assert caught.value.response["Error"]["Code"] == "ConflictException"
        assert "deployment in progress" in error_message(caught)
    finally:
        proton.cancel_service_instance_deployment(serviceName=SVC, serviceInstanceName="held")


def _cli(server: BaryonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "baryon.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **server.exports},
    )


def test_the_cli_previews_then_starts_a_rollback(
    deployed: None, server: BaryonProcess, proton: Any, baryon: Any, cloudformation: Any
) -> None:
    upgrade = _upgrade(proton, "cli", "httpd")
    where = ("--service", SVC, "--instance", "cli")

    shown = _cli(server, "rollback", "preview", *where)

    assert shown.returncode == 0, shown.stderr
    assert "version      1.1 -> 1.0" in shown.stdout
    assert "cannot undo  Marker (AWS::SSM::Parameter)" in shown.stdout
    assert 'input        image: "httpd" -> "nginx"' in shown.stdout

    started = _cli(server, "rollback", "start", *where, "--yes", "--output", "json")

    assert started.returncode == 0, started.stderr
    answer = json.loads(started.stdout)
    assert answer["reversesDeploymentId"] == upgrade
    _wait_succeeded(proton, answer["deployment"]["id"])
    _assert_back_on_1_0(proton, cloudformation, "cli")
    refused = _cli(server, "rollback", "start", "--service", SVC, "--instance", "fresh", "--yes")
    assert refused.returncode != 0
    assert "cannot be rolled back" in refused.stderr


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
            data={"csrf_token": token.group(1), "name": USER, "password": PASSWORD},
        )
        assert signed_in.status_code in (200, 303), signed_in.text
        yield client


def test_the_portal_previews_a_rollback_and_starts_it_on_confirm(
    deployed: None, proton: Any, baryon: Any, cloudformation: Any, browser: httpx.Client
) -> None:
    upgrade = _upgrade(proton, "web", "httpd")
    page_url = f"/portal/services/{SVC}/instances/web"
    assert 'id="roll-back"' in browser.get(page_url).text

    shown = browser.get(f"{page_url}/rollback")

    assert shown.status_code == 200, shown.text
    text = html.unescape(shown.text)
    assert "Marker (AWS::SSM::Parameter) came with the change being rolled back" in text
    assert upgrade[:8] in text and 'id="confirm-rollback"' in text
    token = re.search(r'name="token" value="([0-9a-f]+)"', shown.text)
    csrf = CSRF.search(shown.text)
    assert token is not None and csrf is not None

    done = browser.post(
        f"{page_url}/rollback",
        data={"csrf_token": csrf.group(1), "token": token.group(1)},
        follow_redirects=False,
    )

    assert done.status_code == 303, done.text
    rollback = baryon.get_deployment_rollbacks(id=upgrade)["reversedBy"]
    assert len(rollback) == 1
    _wait_succeeded(proton, rollback[0])
    _assert_back_on_1_0(proton, cloudformation, "web")
    history = html.unescape(browser.get(page_url).text)
    assert "rollback of" in history and upgrade[:8] in history
    record = browser.get(f"/portal/deployments/{rollback[0]}").text
    assert 'id="rollback-of"' in record and upgrade in record
