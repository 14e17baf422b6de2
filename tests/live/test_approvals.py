"""Approvals through boto3 and the CLI against a real ``baryon up``: an approval rule holds a
change to an instance on a prod-tagged environment; the approver sees its preview and approves
it (then it deploys on the local cloud) or rejects it (then nothing reaches the cloud); its
requester may not approve it; a cancel ends a waiting deployment; a change elsewhere runs
straight away. Deletion protection, by hand and by tag, refuses DeleteEnvironment and
DeleteService with ValidationException naming how to lift it.

Every deployment passes the gate: a CreateService's pipeline, queued after its instances, waits
for its own approval too (approved early it still waits for its turn; rejected it never reaches
the cloud and the service ends CREATE_FAILED saying why), and a service sync's push is held by
the same rules, requested by ``system/baryon``.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError
from click.testing import CliRunner

from baryon.cli.main import cli
from tests.support.bundles import Registry
from tests.support.deploying import (
    FAST,
    REPO,
    env_spec,
    error_message,
    instance_settled,
    publish_environment_template,
    publish_service_template,
    service_spec,
    stack,
    stack_outputs,
)
from tests.support.processes import BaryonProcess, own_baryon

SUFFIX = uuid.uuid4().hex[:6]
ENV_TEMPLATE, SVC_TEMPLATE = f"aenv-{SUFFIX}", f"asvc-{SUFFIX}"
PROD, DEV, SVC = f"prod{SUFFIX}", f"dev{SUFFIX}", f"web{SUFFIX}"
APPROVER = "approver"
PROD_RULE = """
permit (principal, action == Baryon::Action::"RequireApproval", resource)
when {
  resource.kind == "service_instance" &&
  resource.environment.hasTag("stage") && resource.environment.getTag("stage") == "prod"
};
"""

# Pipelines of these services wait for approval (by name, so the other tests' service is not
# held): one approved, one rejected after its instance deployed, one rejected while waiting.
PIPED = {"ok": f"pipeok{SUFFIX}", "late": f"pipelate{SUFFIX}", "early": f"pipeearly{SUFFIX}"}
PIPELINE_RULE = (
    """
permit (principal, action == Baryon::Action::"RequireApproval", resource)
when { resource.kind == "pipeline" && ["""
    + ", ".join(f'"{name}"' for name in PIPED.values())
    + """].contains(resource.service) };
"""
)
SYNCED, SYNC_REPOSITORY, OPS, SYNC_SPEC = (
    f"synced{SUFFIX}",
    f"acme/ops-{SUFFIX}",
    "ops.yaml",
    "deploy/s.yaml",
)

server = own_baryon(
    "approvals",
    env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.01", "BARYON_GIT_POLL_SECONDS": "0.5"},
)


@dataclass(frozen=True)
class World:
    proton: Any  # the requester: the server's own key
    baryon: Any
    approver: Any  # baryon API as another principal
    cloudformation: Any
    data_dir: str
    approver_env: dict[str, str]  # the approver's key and the endpoint, for the CLI


def _cli(*args: str, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def world(server: BaryonProcess) -> Iterator[World]:
    proton = server.client("proton")
    registry = Registry(proton, server.client("s3"))
    publish_environment_template(registry, ENV_TEMPLATE)
    for name, tags in ((PROD, [{"key": "stage", "value": "prod"}]), (DEV, [])):
        proton.create_environment(
            protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
            name=name,
            templateName=ENV_TEMPLATE,
            templateMajorVersion="1",
            spec=env_spec(size="large"),
            tags=tags,
        )
        proton.get_waiter("environment_deployed").wait(name=name, WaiterConfig=FAST)
    publish_service_template(registry, SVC_TEMPLATE, [(ENV_TEMPLATE, "1")])
    proton.create_service(
        name=SVC,
        templateName=SVC_TEMPLATE,
        templateMajorVersion="1",
        spec=service_spec([("one", PROD, {"port": 8001}), ("dev", DEV, {"port": 8001})]),
        **REPO,
    )
    proton.get_waiter("service_created").wait(name=SVC, WaiterConfig=FAST)
    data_dir = str(server.data_dir)
    _cli("users", "create", APPROVER, "--robot", "--role", "admin", "--data-dir", data_dir)
    keys = json.loads(
        _cli("keys", "create", "--user", APPROVER, "--output", "json", "--data-dir", data_dir)
    )
    baryon = server.client("baryon")
    baryon.put_approval_rule(name="prod-instances", policy=PROD_RULE)
    baryon.put_approval_rule(name="some-pipelines", policy=PIPELINE_RULE)
    approver = server.client(
        "baryon",
        aws_access_key_id=keys["accessKeyId"],
        aws_secret_access_key=keys["secretAccessKey"],
    )
    approver_env = {
        "AWS_ACCESS_KEY_ID": keys["accessKeyId"],
        "AWS_SECRET_ACCESS_KEY": keys["secretAccessKey"],
        "AWS_DEFAULT_REGION": server.exports["AWS_DEFAULT_REGION"],
        "AWS_ENDPOINT_URL_PROTON": server.endpoint,
        "AWS_ENDPOINT_URL_BARYON": server.endpoint,
    }
    cloudformation = server.client("cloudformation")
    yield World(proton, baryon, approver, cloudformation, data_dir, approver_env)


def _update(world: World, instance: str, port: int) -> dict[str, Any]:
    environment = PROD if instance != "dev" else DEV
    spec = service_spec([(instance, environment, {"port": port})])
    return world.proton.update_service_instance(
        serviceName=SVC, name=instance, deploymentType="CURRENT_VERSION", spec=spec
    )["serviceInstance"]


def _approval_of(world: World, instance: str) -> dict[str, Any]:
    pending = world.baryon.list_approvals(status="PENDING")["approvals"]
    mine = [a for a in pending if a.get("serviceInstanceName") == instance]
    assert len(mine) == 1, pending
    return mine[0]


def _still_waiting(world: World, instance: str) -> dict[str, Any]:
    time.sleep(1.0)  # time for a worker to pick up a job, were one queued
    view = world.proton.get_service_instance(serviceName=SVC, name=instance)["serviceInstance"]
    assert view["deploymentStatus"] == "IN_PROGRESS", view
    return view


def test_a_prod_change_waits_shows_its_preview_and_deploys_once_another_approves(
    world: World,
) -> None:
    _update(world, "one", 8002)
    approval = _approval_of(world, "one")
    assert approval["rules"] == ["prod-instances"]
    assert approval["operation"] == "DEPLOY"
    assert approval["deploymentStatus"] == "IN_PROGRESS"
    view = _still_waiting(world, "one")
    deployment = world.proton.get_deployment(id=approval["deploymentId"])["deployment"]
    assert deployment["deploymentStatus"] == "IN_PROGRESS"
    assert "Waiting for approval" in deployment.get("deploymentStatusMessage", ""), deployment
    assert view["lastAttemptedDeploymentId"] == approval["deploymentId"]

    detail = world.approver.get_approval(deploymentId=approval["deploymentId"])
    preview = detail["preview"]
    assert preview["changed"] is True
    port = next(i for i in preview["inputs"] if i["name"] == "port")
    assert (port["currentValue"], port["proposedValue"], port["change"]) == (
        "8001",
        "8002",
        "CHANGED",
    )

    with pytest.raises(ClientError) as own:
        world.baryon.approve_deployment(deploymentId=approval["deploymentId"])
    assert own.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "may not approve" in error_message(own)

    approved = world.approver.approve_deployment(
        deploymentId=approval["deploymentId"], comment="looks right"
    )["approval"]
    assert approved["status"] == "APPROVED"
    assert approved["decidedBy"].endswith(APPROVER)
    assert instance_settled(world.proton, SVC, "one")["deploymentStatus"] == "SUCCEEDED"
    deployed = stack(world.cloudformation, "service-instance", SVC, "one")
    assert deployed is not None
    assert "8002" in json.dumps(stack_outputs(deployed)), deployed


def test_a_change_no_rule_names_runs_straight_away(world: World) -> None:
    _update(world, "dev", 8003)
    assert instance_settled(world.proton, SVC, "dev")["deploymentStatus"] == "SUCCEEDED"
    assert not [
        a
        for a in world.baryon.list_approvals()["approvals"]
        if a.get("serviceInstanceName") == "dev"
    ]


def test_a_rejected_instance_never_reaches_the_cloud(world: World) -> None:
    world.proton.create_service_instance(
        serviceName=SVC, name="two", spec=service_spec([("two", PROD, {"port": 9000})])
    )
    approval = _approval_of(world, "two")
    _still_waiting(world, "two")
    rejected = world.approver.reject_deployment(
        deploymentId=approval["deploymentId"], comment="not this week"
    )["approval"]
    assert (rejected["status"], rejected["comment"]) == ("REJECTED", "not this week")
    view = instance_settled(world.proton, SVC, "two")
    assert view["deploymentStatus"] == "CANCELLED"
    deployment = world.proton.get_deployment(id=approval["deploymentId"])["deployment"]
    assert deployment["deploymentStatus"] == "CANCELLED"
    assert "Rejected by" in deployment["deploymentStatusMessage"]
    assert "not this week" in deployment["deploymentStatusMessage"]
    assert stack(world.cloudformation, "service-instance", SVC, "two") is None
    with pytest.raises(ClientError) as late:
        world.approver.approve_deployment(deploymentId=approval["deploymentId"])
    assert late.value.response["Error"]["Code"] == "ConflictException"
    assert "rejected" in error_message(late)


def test_cancelling_a_waiting_deployment_ends_it_and_its_approval(world: World) -> None:
    before = stack(world.cloudformation, "service-instance", SVC, "one")
    assert before is not None
    _update(world, "one", 8004)
    approval = _approval_of(world, "one")
    world.proton.cancel_service_instance_deployment(serviceName=SVC, serviceInstanceName="one")
    assert instance_settled(world.proton, SVC, "one")["deploymentStatus"] == "CANCELLED"
    decided = world.baryon.get_approval(deploymentId=approval["deploymentId"])["approval"]
    assert decided["status"] == "CANCELLED"
    assert "preview" not in world.baryon.get_approval(deploymentId=approval["deploymentId"])
    after = stack(world.cloudformation, "service-instance", SVC, "one")
    assert after is not None and stack_outputs(after) == stack_outputs(before)


def test_the_cli_lists_shows_and_approves(world: World) -> None:
    _update(world, "one", 8005)
    approval = _approval_of(world, "one")
    deployment_id = approval["deploymentId"]
    listed = _cli("approvals", "list", "--data-dir", world.data_dir)
    assert deployment_id in listed and "PENDING" in listed
    shown = _cli("approvals", "show", deployment_id, "--data-dir", world.data_dir)
    assert "prod-instances" in shown and "8005" in shown
    approved = _cli(
        "approvals",
        "approve",
        deployment_id,
        "--comment",
        "ok from the CLI",
        env=world.approver_env,  # as the approver: the data directory's key is the requester
    )
    assert "APPROVED" in approved
    assert instance_settled(world.proton, SVC, "one")["deploymentStatus"] == "SUCCEEDED"


def test_a_rule_that_is_not_cedar_is_refused_naming_it(world: World) -> None:
    with pytest.raises(ClientError) as caught:
        world.baryon.put_approval_rule(name="broken", policy="permit (principal, action")
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "broken" in error_message(caught)
    names = [rule["name"] for rule in world.baryon.list_approval_rules()["rules"]]
    assert names == ["prod-instances", "some-pipelines"]


def test_a_protected_environment_is_not_deleted_until_unprotected(world: World) -> None:
    protection = world.baryon.set_deletion_protection(
        resourceType="ENVIRONMENT", name=DEV, enabled=True
    )["deletionProtection"]
    assert (protection["protected"], protection["byHand"], protection["byTag"]) == (
        True,
        True,
        False,
    )
    with pytest.raises(ClientError) as caught:
        world.proton.delete_environment(name=DEV)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert f"baryon unprotect environment {DEV}" in error_message(caught)
    unprotected = world.baryon.set_deletion_protection(
        resourceType="ENVIRONMENT", name=DEV, enabled=False
    )["deletionProtection"]
    assert unprotected["protected"] is False
    # Unprotected, the delete gets past protection to Proton's own rule: it has an instance.
    with pytest.raises(ClientError) as busy:
        world.proton.delete_environment(name=DEV)
    assert "protected" not in error_message(busy)


def test_a_service_protected_by_its_tag_is_deleted_once_the_tag_goes(world: World) -> None:
    name = f"tagged{SUFFIX}"
    world.proton.create_service(
        name=name,
        templateName=SVC_TEMPLATE,
        templateMajorVersion="1",
        spec=service_spec([("a", DEV, {"port": 7000})]),
        tags=[{"key": "baryon:deletion-protection", "value": "true"}],
        **REPO,
    )
    world.proton.get_waiter("service_created").wait(name=name, WaiterConfig=FAST)
    protection = world.baryon.get_deletion_protection(resourceType="SERVICE", name=name)
    assert protection["deletionProtection"]["byTag"] is True
    with pytest.raises(ClientError) as caught:
        world.proton.delete_service(name=name)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "baryon:deletion-protection=true" in error_message(caught)
    arn = world.proton.get_service(name=name)["service"]["arn"]
    world.proton.untag_resource(resourceArn=arn, tagKeys=["baryon:deletion-protection"])
    world.proton.delete_service(name=name)
    world.proton.get_waiter("service_deleted").wait(name=name, WaiterConfig=FAST)


# --- a pipeline queued after its instances ----------------------------------------------------


def _create_piped(world: World, key: str, instance: str, environment: str) -> str:
    name = PIPED[key]
    world.proton.create_service(
        name=name,
        templateName=SVC_TEMPLATE,
        templateMajorVersion="1",
        spec=service_spec([(instance, environment, {"port": 8100})]),
        **REPO,
    )
    return name


def _pipeline_approval(world: World, service: str) -> dict[str, Any]:
    pending = world.baryon.list_approvals(status="PENDING")["approvals"]
    mine = [
        a
        for a in pending
        if a.get("serviceName") == service and a["targetResourceType"] == "SERVICE_PIPELINE"
    ]
    assert len(mine) == 1, pending
    return mine[0]


def _service(world: World, name: str) -> dict[str, Any]:
    return dict(world.proton.get_service(name=name)["service"])


def _service_settled(world: World, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while (service := _service(world, name))["status"].endswith("IN_PROGRESS"):
        assert time.monotonic() < deadline, service
        time.sleep(0.2)
    return service


def test_a_pipeline_approved_before_its_instances_deploy_waits_for_them_then_runs(
    world: World,
) -> None:
    name = _create_piped(world, "ok", "pa", PROD)  # the instance waits for approval too
    pipeline = _pipeline_approval(world, name)
    assert pipeline["rules"] == ["some-pipelines"]
    instance = _approval_of(world, "pa")
    world.approver.approve_deployment(deploymentId=pipeline["deploymentId"])
    time.sleep(1.0)  # time for a worker to pick up a job, were one queued
    deployment = world.proton.get_deployment(id=pipeline["deploymentId"])["deployment"]
    assert deployment["deploymentStatus"] == "IN_PROGRESS", deployment
    assert "once the service's instances are deployed" in deployment["deploymentStatusMessage"]
    assert stack(world.cloudformation, "service-pipeline", name) is None
    assert _service(world, name)["status"] == "CREATE_IN_PROGRESS"

    world.approver.approve_deployment(deploymentId=instance["deploymentId"])
    service = _service_settled(world, name)
    assert service["status"] == "ACTIVE", service
    assert service["pipeline"]["deploymentStatus"] == "SUCCEEDED"
    assert service["pipeline"]["lastSucceededDeploymentId"] == pipeline["deploymentId"]
    assert stack(world.cloudformation, "service-pipeline", name) is not None


def test_a_pipeline_rejected_once_its_turn_came_never_reaches_the_cloud(world: World) -> None:
    name = _create_piped(world, "late", "pb", DEV)  # the instance runs straight away
    pipeline = _pipeline_approval(world, name)
    assert instance_settled(world.proton, name, "pb")["deploymentStatus"] == "SUCCEEDED"
    time.sleep(1.0)
    waiting = world.proton.get_deployment(id=pipeline["deploymentId"])["deployment"]
    assert waiting["deploymentStatus"] == "IN_PROGRESS", waiting
    assert _service(world, name)["status"] == "CREATE_IN_PROGRESS"

    world.approver.reject_deployment(deploymentId=pipeline["deploymentId"], comment="no CI yet")
    service = _service_settled(world, name)
    assert service["status"] == "CREATE_FAILED", service
    assert "no CI yet" in service["statusMessage"]
    assert service["pipeline"]["deploymentStatus"] == "CANCELLED"
    ended = world.proton.get_deployment(id=pipeline["deploymentId"])["deployment"]
    assert ended["deploymentStatus"] == "CANCELLED"
    assert stack(world.cloudformation, "service-pipeline", name) is None
    assert stack(world.cloudformation, "service-instance", name, "pb") is not None


def test_a_pipeline_rejected_while_its_instances_wait_ends_with_them(world: World) -> None:
    name = _create_piped(world, "early", "pc", PROD)
    pipeline = _pipeline_approval(world, name)
    instance = _approval_of(world, "pc")
    world.approver.reject_deployment(deploymentId=pipeline["deploymentId"])
    ended = world.proton.get_deployment(id=pipeline["deploymentId"])["deployment"]
    assert ended["deploymentStatus"] == "CANCELLED"
    assert _service(world, name)["status"] == "CREATE_IN_PROGRESS"  # its instance still waits

    world.approver.approve_deployment(deploymentId=instance["deploymentId"])
    assert instance_settled(world.proton, name, "pc")["deploymentStatus"] == "SUCCEEDED"
    service = _service_settled(world, name)
    assert service["status"] == "CREATE_FAILED", service
    assert "Rejected by" in service["statusMessage"]
    time.sleep(1.0)  # no job may run the rejected pipeline after all
    assert stack(world.cloudformation, "service-pipeline", name) is None
    assert service["pipeline"]["deploymentStatus"] == "CANCELLED"


# --- a service sync's push --------------------------------------------------------------------


def _git(where: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", *args]
    done = subprocess.run(command, cwd=where, check=True, capture_output=True, text=True)
    return done.stdout


def test_a_service_sync_push_is_held_by_the_same_rules_until_approved(
    world: World, server: BaryonProcess, tmp_path: Path
) -> None:
    world.proton.create_service(
        name=SYNCED,
        templateName=SVC_TEMPLATE,
        templateMajorVersion="1",
        spec=service_spec([]),
        **REPO,
    )
    assert _service_settled(world, SYNCED)["status"] == "ACTIVE"
    bare, work = tmp_path / "remotes" / f"{SYNC_REPOSITORY}.git", tmp_path / "work"
    bare.parent.mkdir(parents=True)
    _git(tmp_path, "init", "--bare", "-q", "-b", "main", str(bare))
    _git(tmp_path, "init", "-q", "-b", "main", str(work))
    ops = {"sync": {"services": {SYNCED: {"fromgit": {"branch": "main", "spec": SYNC_SPEC}}}}}
    (work / OPS).write_text(yaml.safe_dump(ops))
    (work / SYNC_SPEC).parent.mkdir()
    (work / SYNC_SPEC).write_text(service_spec([("fromgit", PROD, {"port": 8200})]))
    _git(work, "add", "-A")
    _git(work, "commit", "-q", "-m", "prod instance")
    _git(work, "push", "-q", str(bare), "HEAD:main")
    connection = world.baryon.create_connection(
        name=f"disk-{SUFFIX}", provider="GIT", baseUrl=str(tmp_path / "remotes") + "/"
    )["connection"]
    world.proton.create_repository(
        name=SYNC_REPOSITORY, provider="GITHUB", connectionArn=connection["arn"]
    )
    world.proton.create_service_sync_config(
        serviceName=SYNCED,
        repositoryProvider="GITHUB",
        repositoryName=SYNC_REPOSITORY,
        branch="main",
        filePath=OPS,
    )

    deadline = time.monotonic() + 120
    while not [
        a
        for a in world.baryon.list_approvals(status="PENDING")["approvals"]
        if a.get("serviceInstanceName") == "fromgit"
    ]:
        assert time.monotonic() < deadline, "the synced instance was never held"
        time.sleep(0.25)
    approval = _approval_of(world, "fromgit")
    assert (approval["requestedBy"], approval["rules"]) == ("system/baryon", ["prod-instances"])
    _still_waiting_in(world, SYNCED, "fromgit")
    deployment = world.proton.get_deployment(id=approval["deploymentId"])["deployment"]
    assert (
        "Waiting for approval (approval rule prod-instances)"
        in deployment["deploymentStatusMessage"]
    )
    assert "requested by system/baryon" in deployment["deploymentStatusMessage"]
    sync = world.proton.get_service_instance_sync_status(
        serviceName=SYNCED, serviceInstanceName="fromgit"
    )["latestSync"]
    assert sync["status"] == "IN_PROGRESS"
    assert "waits for approval (approval rule prod-instances)" in sync["events"][-1]["event"]
    assert stack(world.cloudformation, "service-instance", SYNCED, "fromgit") is None

    # Baryon asked, so any person may approve, the server's own key too.
    world.baryon.approve_deployment(deploymentId=approval["deploymentId"])
    assert instance_settled(world.proton, SYNCED, "fromgit")["deploymentStatus"] == "SUCCEEDED"
    deployed = stack(world.cloudformation, "service-instance", SYNCED, "fromgit")
    assert deployed is not None and "8200" in json.dumps(stack_outputs(deployed))
    deadline = time.monotonic() + 60
    while (
        status := world.proton.get_service_instance_sync_status(
            serviceName=SYNCED, serviceInstanceName="fromgit"
        )["latestSync"]["status"]
    ) != "SUCCEEDED":
        assert time.monotonic() < deadline, status
        time.sleep(0.25)


def _still_waiting_in(world: World, service: str, instance: str) -> None:
    time.sleep(1.0)  # time for a worker to pick up a job, were one queued
    view = world.proton.get_service_instance(serviceName=service, name=instance)
    assert view["serviceInstance"]["deploymentStatus"] == "IN_PROGRESS", view
