"""A staged rollout of a new minor version across 60 service instances, through boto3
against a real `baryon up` and its local cloud.

Three waves (3, 27, 30; the first the canary) watch a CloudWatch alarm. Wave 2 requires
approval, so the rollout pauses after wave 1 passed its gates; the alarm is set to ALARM
then, before wave 2 is approved, so wave 2's gate fails whatever the timing: wave 2 is rolled
back (new deployments of 1.0) and the rollout halts, wave 1 staying on 1.1 and wave 3
untouched. An instance of wave 3 changed by hand meanwhile is reported and left alone; once
the alarm is OK again, resume completes it. The CLI test plans and runs its own rollout of
its own template.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.bundles import SVC_CFN, Registry, service_bundle
from tests.support.cli import run_baryon
from tests.support.deploying import (
    FAST,
    env_spec,
    publish_environment_template,
    publish_service_template,
    service_spec,
)
from tests.support.processes import BaryonProcess, clean_environment, own_baryon

SUFFIX = uuid.uuid4().hex[:6]
ENV_TEMPLATE, SVC_TEMPLATE, ENV = f"renv-{SUFFIX}", f"rsvc-{SUFFIX}", f"roll{SUFFIX}"
CLI_TEMPLATE, CLI_SERVICE = f"rcli-{SUFFIX}", f"rc{SUFFIX}"
SERVICES = [f"rs{SUFFIX}-{n}" for n in range(3)]
PER_SERVICE = 20
ALARM = f"rollout-health-{SUFFIX}"
# No bake time: wave 2 waits for approval instead, and the test sets the alarm meanwhile.
WAVES = [{"count": 3}, {"count": 27, "requiresApproval": True}, {}]

server = own_baryon(
    "rollouts",
    env={
        "BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.01",
        "BARYON_WORKER_THREADS": "4",
        "BARYON_ROLLOUT_TICK_SECONDS": "0.3",
    },
)


def _bundle(version: str) -> dict[str, str]:
    files = service_bundle(pipeline=False)
    files["instance_infrastructure/cloudformation.yaml"] = (
        SVC_CFN + f"  Generation:\n    Value: '{version}'\n"
    )
    return files


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    return server.client("proton")


@pytest.fixture(scope="module")
def baryon(server: BaryonProcess) -> Any:
    return server.client("baryon")


@pytest.fixture(scope="module")
def cloudwatch(server: BaryonProcess) -> Any:
    client = server.client("cloudwatch")
    client.put_metric_alarm(
        AlarmName=ALARM,
        MetricName="Errors",
        Namespace="Rollout/Test",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    client.set_alarm_state(AlarmName=ALARM, StateValue="OK", StateReason="healthy")
    return client


@pytest.fixture(scope="module")
def registry(server: BaryonProcess, proton: Any) -> Registry:
    """The environment every service here runs in."""
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
    return registry


@pytest.fixture(scope="module")
def fleet(registry: Registry, proton: Any) -> list[tuple[str, str]]:
    """60 instances of 1.0 in one environment (three services of 20), then 1.1 published."""
    publish_service_template(
        registry,
        SVC_TEMPLATE,
        [(ENV_TEMPLATE, "1")],
        _bundle("1.0"),
        pipelineProvisioning="CUSTOMER_MANAGED",
    )
    instances = [(service, f"i{n:02d}") for service in SERVICES for n in range(PER_SERVICE)]
    for service in SERVICES:
        proton.create_service(
            name=service,
            templateName=SVC_TEMPLATE,
            templateMajorVersion="1",
            spec=service_spec([(name, ENV, None) for s, name in instances if s == service]),
        )
    for service in SERVICES:
        proton.get_waiter("service_created").wait(name=service, WaiterConfig=FAST)
    publish_service_template(
        registry,
        SVC_TEMPLATE,
        [(ENV_TEMPLATE, "1")],
        _bundle("1.1"),
        major="1",
        pipelineProvisioning="CUSTOMER_MANAGED",
    )
    return instances


def _until(
    read: Callable[[], Any], done: Callable[[Any], bool], what: str, timeout: float = 300
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"{what} did not happen: {value}"
        time.sleep(0.2)


def _version(proton: Any, service: str, name: str) -> str:
    instance = proton.get_service_instance(serviceName=service, name=name)["serviceInstance"]
    return f"{instance['templateMajorVersion']}.{instance['templateMinorVersion']}"


def _targets(baryon: Any, rollout_id: str) -> list[dict[str, Any]]:
    pages = baryon.get_paginator("list_rollout_targets").paginate(id=rollout_id)
    return [target for page in pages for target in page["targets"]]


def _deployments(proton: Any) -> Counter[tuple[str, str]]:
    counted: Counter[tuple[str, str]] = Counter()
    for page in proton.get_paginator("list_deployments").paginate(environmentName=ENV):
        for deployment in page["deployments"]:
            if deployment.get("serviceInstanceName"):
                counted[(deployment["serviceName"], deployment["serviceInstanceName"])] += 1
    return counted


def test_an_alarm_during_wave_2_rolls_it_back_and_resume_completes_the_rollout(
    proton: Any, baryon: Any, cloudwatch: Any, fleet: list[tuple[str, str]]
) -> None:
    cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="OK", StateReason="healthy")
    created = baryon.create_rollout(
        name="minor-1-1",
        templateType="SERVICE",
        templateName=SVC_TEMPLATE,
        targetMajorVersion="1",
        targetMinorVersion="1",
        waves=WAVES,
        concurrency=10,
        failureTolerance={"count": 0, "mode": "STRICT", "scope": "WAVE"},
        alarmNames=[ALARM],
        onFailure="ROLLBACK_WAVE",
    )["rollout"]
    rollout_id = created["id"]
    assert (created["state"], created["targetCount"], created["waveCount"]) == ("DRAFT", 60, 3)
    with pytest.raises(ClientError) as refused:
        baryon.approve_rollout(id=rollout_id)
    assert refused.value.response["Error"]["Code"] == "ConflictException"

    previewed = baryon.preview_rollout(id=rollout_id)["rollout"]
    assert previewed["state"] == "PREVIEWED"
    # The fleet preview plans a change set per instance; approval waits until it is READY.
    planned = _until(
        lambda: baryon.get_fleet_preview(id=previewed["previewId"])["fleetPreview"],
        lambda got: got["status"] != "PLANNING",
        "the fleet preview",
    )
    assert planned["status"] == "READY", planned
    assert baryon.approve_rollout(id=rollout_id)["rollout"]["state"] == "APPROVED"
    before = _deployments(proton)
    assert baryon.start_rollout(id=rollout_id)["rollout"]["state"] == "RUNNING"
    targets = _targets(baryon, rollout_id)
    waves = {
        n: [(t["serviceName"], t["serviceInstanceName"]) for t in targets if t["wave"] == n]
        for n in (1, 2, 3)
    }
    assert [len(waves[n]) for n in (1, 2, 3)] == [3, 27, 30]

    def read() -> dict[str, Any]:
        return baryon.get_rollout(id=rollout_id)

    # Wave 1 passed its gates; wave 2 waits for a person, however long that takes.
    waiting = _until(
        read, lambda got: got["rollout"]["state"] != "RUNNING", "the wait for approval"
    )
    assert waiting["rollout"]["state"] == "PAUSED", waiting
    assert waiting["rollout"]["stateMessage"] == "waiting for approval of wave 2"
    assert [wave["state"] for wave in waiting["waves"]] == ["DONE", "PENDING", "PENDING"]
    assert waiting["waves"][1]["requiresApproval"] is True
    with pytest.raises(ClientError) as refused:
        baryon.resume_rollout(id=rollout_id)
    assert refused.value.response["Error"]["Code"] == "ConflictException"
    # The alarm fires before wave 2 starts: its gate, judged only once it deployed, fails.
    cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="errors")
    approved = baryon.approve_rollout(id=rollout_id, comment="go on")["rollout"]
    assert approved["state"] == "RUNNING"
    halted = _until(read, lambda got: got["rollout"]["state"] == "HALTED", "the halt")
    assert [wave["state"] for wave in halted["waves"]] == ["DONE", "ROLLED_BACK", "PENDING"]
    assert any(
        gate["wave"] == 2
        and gate["gate"] == "ALARMS"
        and gate["verdict"] == "FAIL"
        and ALARM in gate["evidence"]
        for gate in halted["gates"]
    )
    for service, name in waves[1]:
        assert _version(proton, service, name) == "1.1"
    for service, name in waves[2]:
        assert _version(proton, service, name) == "1.0"
    after = _deployments(proton)
    for key in waves[3]:
        assert _version(proton, *key) == "1.0"
        assert after[key] == before[key]  # untouched
    for target in _targets(baryon, rollout_id):
        if target["wave"] == 2:
            assert target["state"] == "ROLLED_BACK" and target.get("rollbackDeploymentId")

    # A person changes one instance of wave 3 meanwhile: the rollout leaves it alone.
    by_hand = waves[3][0]
    proton.update_service_instance(
        serviceName=by_hand[0],
        name=by_hand[1],
        deploymentType="CURRENT_VERSION",
        spec=proton.get_service(name=by_hand[0])["service"]["spec"],
    )
    proton.get_waiter("service_instance_deployed").wait(
        serviceName=by_hand[0], name=by_hand[1], WaiterConfig=FAST
    )
    cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="OK", StateReason="recovered")
    assert baryon.resume_rollout(id=rollout_id)["rollout"]["state"] == "RUNNING"
    done = _until(
        read, lambda got: got["rollout"]["state"] not in ("RUNNING",), "the end", timeout=400
    )
    assert done["rollout"]["state"] == "SUCCEEDED", done
    assert done["rollout"]["counts"]["skipped"] == 1
    skipped = [t for t in _targets(baryon, rollout_id) if t["state"] == "SKIPPED"]
    assert [(t["serviceName"], t["serviceInstanceName"]) for t in skipped] == [by_hand]
    assert "changed by hand" in skipped[0]["reason"]
    assert _version(proton, *by_hand) == "1.0"
    final = _deployments(proton)
    for key in fleet:
        if key != by_hand:
            assert _version(proton, *key) == "1.1"
    # Nothing ran twice: one deployment per instance of waves 1 and 3 (the person's, for the
    # one changed by hand), and wave 2's forward, back and forward again.
    for key in waves[1] + waves[3]:
        assert final[key] - before[key] == 1
    for key in waves[2]:
        assert final[key] - before[key] == 3


def _cli(server: BaryonProcess, *args: str) -> Any:
    """``baryon rollouts ARGS`` in this process (tests.support.cli), its JSON answer."""
    done = run_baryon(["rollouts", *args, "--output", "json", "--data-dir", str(server.data_dir)])
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _cli_process(server: BaryonProcess, *args: str) -> Any:
    """The same through the real entry point, ``python -m baryon.cli.main``."""
    done = subprocess.run(
        [sys.executable, "-m", "baryon.cli.main", "rollouts", *args, "--output", "json",
         "--data-dir", str(server.data_dir)],
        capture_output=True, text=True, env=clean_environment(), timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def cli_fleet(registry: Registry, proton: Any) -> list[str]:
    """Two instances of a template of their own on 1.0, then 1.1 published."""
    publish_service_template(
        registry,
        CLI_TEMPLATE,
        [(ENV_TEMPLATE, "1")],
        _bundle("1.0"),
        pipelineProvisioning="CUSTOMER_MANAGED",
    )
    names = ["c0", "c1"]
    proton.create_service(
        name=CLI_SERVICE,
        templateName=CLI_TEMPLATE,
        templateMajorVersion="1",
        spec=service_spec([(name, ENV, None) for name in names]),
    )
    proton.get_waiter("service_created").wait(name=CLI_SERVICE, WaiterConfig=FAST)
    publish_service_template(
        registry,
        CLI_TEMPLATE,
        [(ENV_TEMPLATE, "1")],
        _bundle("1.1"),
        major="1",
        pipelineProvisioning="CUSTOMER_MANAGED",
    )
    return names


def test_the_cli_plans_lists_shows_cancels_and_approves_a_waiting_wave(
    server: BaryonProcess, proton: Any, baryon: Any, cloudwatch: Any, cli_fleet: list[str]
) -> None:
    cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="OK", StateReason="healthy")
    first = _cli_process(server, "create", "--name", "first", "--template", CLI_TEMPLATE,
                         "--to", "1.1", "--wave", "rest")  # fmt: skip
    assert _cli(server, "cancel", first["id"], "--reason", "not now")["state"] == "CANCELLED"
    created = _cli(
        server, "create", "--name", "stragglers", "--template", CLI_TEMPLATE, "--to", "1.1",
        "--wave", "1", "--wave", "rest:0", "--wave-approval", "2", "--target-deadline", "600",
        "--alarm", ALARM, "--on-failure", "rollback-wave",
    )  # fmt: skip
    assert (created["state"], created["targetCount"], created["waveCount"]) == ("DRAFT", 2, 2)
    assert created["alarmNames"] == [ALARM] and created["onFailure"] == "ROLLBACK_WAVE"
    assert created["targetDeadlineSeconds"] == 600
    listed = _cli(server, "list", "--template", CLI_TEMPLATE)["rollouts"]
    assert [r["name"] for r in listed] == ["stragglers", "first"]  # newest first
    shown = _cli(server, "show", created["id"], "--targets")
    assert [t["state"] for t in shown["targets"]] == ["PENDING", "PENDING"]
    assert [w.get("requiresApproval", False) for w in shown["waves"]] == [False, True]
    assert shown["events"][0]["message"].startswith("Created: 2 resources")

    preview_id = _cli(server, "preview", created["id"])["previewId"]
    _until(
        lambda: baryon.get_fleet_preview(id=preview_id)["fleetPreview"]["status"],
        lambda status: status != "PLANNING",
        "the fleet preview",
    )
    assert _cli(server, "approve", created["id"], "--start")["state"] == "RUNNING"
    waiting = _until(
        lambda: baryon.get_rollout(id=created["id"])["rollout"],
        lambda got: got["state"] != "RUNNING",
        "the wait for approval",
    )
    assert (waiting["state"], waiting["stateMessage"]) == (
        "PAUSED",
        "waiting for approval of wave 2",
    )
    assert _cli(server, "approve", created["id"], "--comment", "fine")["state"] == "RUNNING"
    done = _until(
        lambda: baryon.get_rollout(id=created["id"])["rollout"],
        lambda got: got["state"] != "RUNNING",
        "the end",
    )
    assert done["state"] == "SUCCEEDED", done
    for name in cli_fleet:
        assert _version(proton, CLI_SERVICE, name) == "1.1"
