"""``baryon rollouts rollback`` against a live Baryon: it shows the preview (each resource
and the version it goes back to), passes the preview's token, and the rollback deployments
reverse the rollout's."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from tests.support.bundles import Registry
from tests.support.deploying import FAST, env_spec, publish_environment_template
from tests.support.processes import BaryonProcess, clean_environment, own_baryon

TEMPLATE = "rbnet"
ROLE = "arn:aws:iam::123456789012:role/proton"

server = own_baryon(
    "rollout-rollback-cli",
    env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.01", "BARYON_ROLLOUT_TICK_SECONDS": "0.3"},
)


def _until(read: Callable[[], Any], done: Callable[[Any], bool], what: str) -> Any:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        got = read()
        if done(got):
            return got
        time.sleep(0.3)
    raise AssertionError(f"{what} did not come: {got}")


def _cli(server: BaryonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "baryon.cli.main", "rollouts", *args,
         "--data-dir", str(server.data_dir)],
        capture_output=True, text=True, env=clean_environment(), timeout=120,
    )  # fmt: skip


def test_the_cli_previews_a_rollouts_rollback_then_rolls_back_with_its_token(
    server: BaryonProcess,
) -> None:
    proton, baryon = server.client("proton"), server.client("baryon")
    registry = Registry(proton, server.client("s3"))
    publish_environment_template(registry, TEMPLATE)
    for name in ("rbdev", "rbprod"):
        proton.create_environment(
            name=name,
            templateName=TEMPLATE,
            templateMajorVersion="1",
            protonServiceRoleArn=ROLE,
            spec=env_spec(),
        )
        proton.get_waiter("environment_deployed").wait(name=name, WaiterConfig=FAST)
    publish_environment_template(registry, TEMPLATE, major="1")  # 1.1
    rollout_id = baryon.create_rollout(
        name="up",
        templateType="ENVIRONMENT",
        templateName=TEMPLATE,
        targetMajorVersion="1",
        targetMinorVersion="1",
        waves=[{"count": 1}, {}],
        failureTolerance={"count": 0},
    )["rollout"]["id"]
    preview_id = baryon.preview_rollout(id=rollout_id)["rollout"]["previewId"]
    _until(
        lambda: baryon.get_fleet_preview(id=preview_id)["fleetPreview"]["status"],
        lambda status: status != "PLANNING",
        "the fleet preview",
    )
    baryon.approve_rollout(id=rollout_id)
    baryon.start_rollout(id=rollout_id)
    state = lambda: baryon.get_rollout(id=rollout_id)["rollout"]["state"]  # noqa: E731
    assert _until(state, lambda got: got not in ("RUNNING",), "the rollout") == "SUCCEEDED"

    # Asked and declined: the preview is shown, nothing is rolled back.
    declined = _cli(server, "rollback", rollout_id, "--wave", "2")
    assert declined.returncode != 0
    assert "rbprod: 1.1 -> 1.0" in declined.stdout and "rbdev" not in declined.stdout
    assert state() == "SUCCEEDED"

    done = _cli(server, "rollback", rollout_id, "--yes", "--output", "json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    shown = answer["preview"]["resources"]
    assert [(r["environmentName"], r["targetTemplateMinorVersion"]) for r in shown] == [
        ("rbprod", "0"),
        ("rbdev", "0"),
    ]
    assert answer["rollout"]["state"] == "ROLLING_BACK"
    assert _until(state, lambda got: got != "ROLLING_BACK", "the rollback") == "ROLLED_BACK"
    targets = baryon.list_rollout_targets(id=rollout_id)["targets"]
    for target in targets:
        back = proton.get_deployment(id=target["rollbackDeploymentId"])["deployment"]
        assert back["environmentName"] == target["environmentName"]
        links = baryon.get_deployment_rollbacks(id=target["rollbackDeploymentId"])
        assert links["reversesDeploymentId"] == target["deploymentId"]
    for name in ("rbdev", "rbprod"):
        assert proton.get_environment(name=name)["environment"]["templateMinorVersion"] == "0"
