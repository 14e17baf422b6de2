"""Approval rules govern rollouts too, through boto3 against a real ``baryon up``: a rollout's
waves do not pass the approval gate one deployment at a time, so the rules judge the rollout
as its creator meets them. A rule holding changes to instances on prod-tagged environments
marks the rollout that moves a prod instance (which rules, why, which wave and resource); its
creator may neither approve it nor the wave holding that instance (AccessDenied, audited as
denied), another permitted user may, and the waves run. A rollout of dev instances only is
approved, wave by wave, by its creator as before; a rule put after its preview is met when
its creator approves it.

Rollbacks: one a person asks for obeys the rules as that person meets them (the prod
instance's rollback deployment waits for someone else's approval; the asker, here the
rollout's creator, may not give it); the one a failed alarm gate starts on its own waits for
nobody, acting under the rollout's approval, and the audit trail records it as Baryon's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner

from baryon.cli.main import cli
from tests.support.bundles import SVC_CFN, Registry, service_bundle
from tests.support.deploying import (
    FAST,
    env_spec,
    error_message,
    publish_environment_template,
    publish_service_template,
    service_spec,
)
from tests.support.processes import BaryonProcess, clean_environment, own_baryon

SUFFIX = uuid.uuid4().hex[:6]
ENV_TEMPLATE, SVC_TEMPLATE = f"raenv-{SUFFIX}", f"rasvc-{SUFFIX}"
PROD, DEV = f"prod{SUFFIX}", f"dev{SUFFIX}"
MIXED, DEV_ONLY, LATE = f"mixed{SUFFIX}", f"devonly{SUFFIX}", f"late{SUFFIX}"
BACK, AUTO = f"back{SUFFIX}", f"auto{SUFFIX}"
ALARM = f"rollout-approvals-{SUFFIX}"
APPROVER = "approver"
PROD_RULE = """
permit (principal, action == Baryon::Action::"RequireApproval", resource)
when {
  resource.kind == "service_instance" &&
  resource.environment.hasTag("stage") && resource.environment.getTag("stage") == "prod"
};
"""
LATE_RULE = f"""
permit (principal, action == Baryon::Action::"RequireApproval", resource)
when {{ resource.service == "{LATE}" }};
"""
# Wave 1 (the canary) is the dev instance: sorted by environment name, dev comes first.
WAVES = [{"count": 1}, {"requiresApproval": True}]

server = own_baryon(
    "rollout-approvals",
    env={
        "BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.01",
        "BARYON_ROLLOUT_TICK_SECONDS": "0.3",
    },
)


@dataclass(frozen=True)
class World:
    proton: Any
    creator: Any  # baryon API as the server's own key: creates every rollout here
    approver: Any  # baryon API as another principal allowed to approve
    data_dir: str  # the server's, for the baryon CLI


def _cli(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _bundle(version: str) -> dict[str, str]:
    files = service_bundle(pipeline=False)
    files["instance_infrastructure/cloudformation.yaml"] = (
        SVC_CFN + f"  Generation:\n    Value: '{version}'\n"
    )
    return files


@pytest.fixture(scope="module")
def world(server: BaryonProcess) -> World:
    """prod (tagged stage=prod) and dev; five services on 1.0 (three with an instance in each
    environment, two in dev only), then 1.1 published and the prod rule put."""
    proton = server.client("proton")
    registry = Registry(proton, server.client("s3"))
    publish_environment_template(registry, ENV_TEMPLATE)
    for name, tags in ((PROD, [{"key": "stage", "value": "prod"}]), (DEV, [])):
        proton.create_environment(
            protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
            name=name,
            templateName=ENV_TEMPLATE,
            templateMajorVersion="1",
            spec=env_spec(),
            tags=tags,
        )
        proton.get_waiter("environment_deployed").wait(name=name, WaiterConfig=FAST)
    compatible = [(ENV_TEMPLATE, "1")]
    managed = {"pipelineProvisioning": "CUSTOMER_MANAGED"}
    publish_service_template(registry, SVC_TEMPLATE, compatible, _bundle("1.0"), **managed)
    instances = {
        MIXED: [("one-dev", DEV), ("one-prod", PROD)],
        DEV_ONLY: [("a", DEV), ("b", DEV)],
        LATE: [("a", DEV), ("b", DEV)],
        BACK: [("one-dev", DEV), ("one-prod", PROD)],
        AUTO: [("one-dev", DEV), ("one-prod", PROD)],
    }
    for service, placed in instances.items():
        proton.create_service(
            name=service,
            templateName=SVC_TEMPLATE,
            templateMajorVersion="1",
            spec=service_spec([(name, env, None) for name, env in placed]),
        )
    for service in instances:
        proton.get_waiter("service_created").wait(name=service, WaiterConfig=FAST)
    publish_service_template(
        registry, SVC_TEMPLATE, compatible, _bundle("1.1"), major="1", **managed
    )
    data_dir = str(server.data_dir)
    _cli("users", "create", APPROVER, "--robot", "--role", "admin", "--data-dir", data_dir)
    keys = json.loads(
        _cli("keys", "create", "--user", APPROVER, "--output", "json", "--data-dir", data_dir)
    )
    creator = server.client("baryon")
    creator.put_approval_rule(name="prod-instances", policy=PROD_RULE)
    approver = server.client(
        "baryon",
        aws_access_key_id=keys["accessKeyId"],
        aws_secret_access_key=keys["secretAccessKey"],
    )
    return World(proton, creator, approver, data_dir)


def _show(world: World, rollout_id: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "baryon.cli.main", "rollouts", "show", rollout_id,
         "--data-dir", world.data_dir],
        capture_output=True, text=True, env=clean_environment(), timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def _until(read: Callable[[], Any], done: Callable[[Any], bool], what: str) -> Any:
    deadline = time.monotonic() + 300
    while True:
        value = read()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"{what} did not happen: {value}"
        time.sleep(0.2)


def _create(world: World, name: str, service: str, **plan: Any) -> dict[str, Any]:
    return world.creator.create_rollout(
        name=name,
        templateType="SERVICE",
        templateName=SVC_TEMPLATE,
        targetMajorVersion="1",
        targetMinorVersion="1",
        selection={"services": [service]},
        **({"waves": WAVES} | plan),
    )["rollout"]


def _preview(world: World, rollout_id: str) -> dict[str, Any]:
    previewed = world.creator.preview_rollout(id=rollout_id)["rollout"]
    planned = _until(
        lambda: world.creator.get_fleet_preview(id=previewed["previewId"])["fleetPreview"],
        lambda got: got["status"] != "PLANNING",
        "the fleet preview",
    )
    assert planned["status"] == "READY", planned
    return previewed


def _waiting_for_wave_2(world: World, rollout_id: str) -> dict[str, Any]:
    waiting = _until(
        lambda: world.creator.get_rollout(id=rollout_id)["rollout"],
        lambda got: got["state"] != "RUNNING",
        "the wait for approval of wave 2",
    )
    assert (waiting["state"], waiting["stateMessage"]) == (
        "PAUSED",
        "waiting for approval of wave 2",
    ), waiting
    return waiting


def _succeeded(world: World, rollout_id: str) -> None:
    done = _until(
        lambda: world.creator.get_rollout(id=rollout_id)["rollout"],
        lambda got: got["state"] != "RUNNING",
        "the end",
    )
    assert done["state"] == "SUCCEEDED", done


def _refused(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as refused:
        call()
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    return error_message(refused)


def _versions(world: World, service: str) -> set[str]:
    pages = world.proton.get_paginator("list_service_instances").paginate(serviceName=service)
    return {
        f"{i['templateMajorVersion']}.{i['templateMinorVersion']}"
        for page in pages
        for i in page["serviceInstances"]
    }


def test_a_rollout_moving_a_prod_instance_is_approved_by_someone_other_than_its_creator(
    world: World,
) -> None:
    created = _create(world, "with-prod", MIXED)
    rollout_id, creator = created["id"], created["createdBy"]
    assert created["approvalRules"] == ["prod-instances"]
    assert "would hold 1 of its 2 resources" in created["approvalReason"]
    shown = world.creator.get_rollout(id=rollout_id)
    assert [wave.get("approvalRules") for wave in shown["waves"]] == [None, ["prod-instances"]]
    assert shown["events"][0]["message"].startswith("Needs a second person's approval")
    targets = world.creator.list_rollout_targets(id=rollout_id)["targets"]
    held = {t["serviceInstanceName"]: t.get("approvalRules") for t in targets}
    assert held == {"one-dev": None, "one-prod": ["prod-instances"]}

    shown_text = _show(world, rollout_id)  # baryon rollouts show
    assert f"approval  someone other than {creator} approves it: approval rule" in shown_text
    waves_shown = [line for line in shown_text.splitlines() if line.startswith("wave ")]
    assert "approval rule" not in waves_shown[0]
    assert waves_shown[1].endswith("needs approval (approval rule prod-instances)")

    _preview(world, rollout_id)
    message = _refused(lambda: world.creator.approve_rollout(id=rollout_id))
    assert "prod-instances" in message and creator in message
    assert world.creator.get_rollout(id=rollout_id)["rollout"]["state"] == "PREVIEWED"
    approved = world.approver.approve_rollout(id=rollout_id, comment="prod is calm")["rollout"]
    assert (approved["state"], approved["approvedBy"]) == ("APPROVED", f"robot/{APPROVER}")

    assert world.creator.start_rollout(id=rollout_id)["rollout"]["state"] == "RUNNING"
    _waiting_for_wave_2(world, rollout_id)  # wave 1, the dev instance, ran
    _refused(lambda: world.creator.approve_rollout(id=rollout_id))
    assert world.approver.approve_rollout(id=rollout_id)["rollout"]["state"] == "RUNNING"
    _succeeded(world, rollout_id)
    assert _versions(world, MIXED) == {"1.1"}
    waves = world.creator.get_rollout(id=rollout_id)["waves"]
    assert waves[1]["approvedBy"] == f"robot/{APPROVER}"

    records = world.creator.list_audit_records(operation="ApproveRollout")["records"]
    decided = sorted((r["principal"], r["result"]) for r in records)
    assert decided == sorted(
        [(creator, "DENIED")] * 2 + [(f"robot/{APPROVER}", "SUCCEEDED")] * 2
    ), records


def test_a_rollout_touching_nothing_a_rule_holds_is_approved_by_its_creator(
    world: World,
) -> None:
    created = _create(world, "dev-only", DEV_ONLY)
    rollout_id = created["id"]
    assert "approvalRules" not in created and "approvalReason" not in created
    _preview(world, rollout_id)
    approved = world.creator.approve_rollout(id=rollout_id)["rollout"]
    assert (approved["state"], approved["approvedBy"]) == ("APPROVED", created["createdBy"])
    world.creator.start_rollout(id=rollout_id)
    _waiting_for_wave_2(world, rollout_id)
    assert world.creator.approve_rollout(id=rollout_id)["rollout"]["state"] == "RUNNING"
    _succeeded(world, rollout_id)
    assert _versions(world, DEV_ONLY) == {"1.1"}


def test_a_rule_put_after_the_preview_holds_the_creators_approval(world: World) -> None:
    created = _create(world, "late-rule", LATE)
    rollout_id = created["id"]
    assert "approvalRules" not in created
    _preview(world, rollout_id)
    world.creator.put_approval_rule(name="late-service", policy=LATE_RULE)
    try:
        message = _refused(lambda: world.creator.approve_rollout(id=rollout_id))
        assert "late-service" in message
        approved = world.approver.approve_rollout(id=rollout_id)["rollout"]
        assert approved["state"] == "APPROVED"
    finally:
        world.creator.delete_approval_rule(name="late-service")


def _approved_and_started(world: World, rollout_id: str) -> None:
    """Previewed, approved by the other person (a rule holds the prod instance), started."""
    _preview(world, rollout_id)
    assert world.approver.approve_rollout(id=rollout_id)["rollout"]["state"] == "APPROVED"
    assert world.creator.start_rollout(id=rollout_id)["rollout"]["state"] == "RUNNING"


def _targets(world: World, rollout_id: str) -> dict[str, dict[str, Any]]:
    found = world.creator.list_rollout_targets(id=rollout_id)["targets"]
    return {target["serviceInstanceName"]: target for target in found}


def _events(world: World, rollout_id: str) -> list[str]:
    return [event["message"] for event in world.creator.get_rollout(id=rollout_id)["events"]]


def test_a_rollback_a_person_asks_for_waits_for_someone_else_where_a_rule_holds_it(
    world: World,
) -> None:
    rollout_id = _create(world, "back", BACK, waves=[{"count": 1}, {}])["id"]
    _approved_and_started(world, rollout_id)
    _succeeded(world, rollout_id)
    assert _versions(world, BACK) == {"1.1"}

    preview = world.creator.preview_rollout_rollback(id=rollout_id)
    world.creator.rollback_rollout(id=rollout_id, previewToken=preview["previewToken"])
    # Wave 2 (prod) goes back first: its rollback deployment is held, as the creator asked.
    held = _until(
        lambda: _targets(world, rollout_id)["one-prod"],
        lambda got: got.get("rollbackDeploymentId") is not None,
        "the prod instance's rollback deployment",
    )
    deployment_id = held["rollbackDeploymentId"]
    approval = world.creator.get_approval(deploymentId=deployment_id)["approval"]
    creator = world.creator.get_rollout(id=rollout_id)["rollout"]["createdBy"]
    assert (approval["status"], approval["requestedBy"]) == ("PENDING", creator)
    assert approval["rules"] == ["prod-instances"]
    events = _events(world, rollout_id)
    assert any("would hold 1 of its 2 rollback deployments" in m for m in events), events
    assert _targets(world, rollout_id)["one-prod"]["state"] == "ROLLING_BACK"
    assert _versions(world, BACK) == {"1.1"}

    _refused(lambda: world.creator.approve_deployment(deploymentId=deployment_id))
    world.approver.approve_deployment(deploymentId=deployment_id, comment="roll it back")
    done = _until(
        lambda: world.creator.get_rollout(id=rollout_id)["rollout"],
        lambda got: got["state"] != "ROLLING_BACK",
        "the rollback",
    )
    assert done["state"] == "ROLLED_BACK", done
    assert _versions(world, BACK) == {"1.0"}
    assert {t["state"] for t in _targets(world, rollout_id).values()} == {"ROLLED_BACK"}
    # The dev instance's rollback held nothing: no rule holds a dev instance.
    dev = _targets(world, rollout_id)["one-dev"]["rollbackDeploymentId"]
    with pytest.raises(ClientError) as none_asked:
        world.creator.get_approval(deploymentId=dev)
    assert none_asked.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_rollback_on_a_failed_alarm_gate_waits_for_nobody_and_is_audited_as_baryon(
    world: World, server: BaryonProcess
) -> None:
    cloudwatch = server.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=ALARM,
        MetricName="Errors",
        Namespace="Rollout/Approvals",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    # Firing already: the wave's alarm gate fails as soon as both instances deployed.
    cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="errors")
    rollout_id = _create(
        world,
        "auto",
        AUTO,
        waves=[{}],
        alarmNames=[ALARM],
        onFailure="ROLLBACK_WAVE",
        bakeSeconds=600,
    )["id"]
    _approved_and_started(world, rollout_id)
    halted = _until(
        lambda: world.creator.get_rollout(id=rollout_id)["rollout"],
        lambda got: got["state"] not in ("RUNNING", "ROLLING_BACK"),
        "the automatic rollback",
    )
    assert halted["state"] == "HALTED", halted
    assert _versions(world, AUTO) == {"1.0"}
    targets = _targets(world, rollout_id)
    assert {t["state"] for t in targets.values()} == {"ROLLED_BACK"}
    for target in targets.values():
        with pytest.raises(ClientError) as none_asked:
            world.creator.get_approval(deploymentId=target["rollbackDeploymentId"])
        assert none_asked.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert any(
        m.startswith("The rollback acts under the rollout's approval (approved by robot/")
        for m in _events(world, rollout_id)
    )
    records = world.creator.list_audit_records(operation="RollbackRollout")["records"]
    prod = targets["one-prod"]["resourceArn"]
    ours = [r for r in records if prod in r["resources"]]
    assert [(r["principal"], r["door"], r["result"]) for r in ours] == [
        ("system/baryon", "SYSTEM", "SUCCEEDED")
    ], records
    assert set(ours[0]["resources"]) == {t["resourceArn"] for t in targets.values()}
    world.creator.cancel_rollout(id=rollout_id)
