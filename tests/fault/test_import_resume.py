"""`baryon up` killed with SIGKILL in the middle of `baryon import`: running the import again
after the restart resumes the same import, which completes; nothing was applied twice and
every stack is still the one Proton made.

The worker pauses between items (BARYON_IMPORT_ITEM_PAUSE_SECONDS) so that the kill lands
while some items are applied and others are not; the test checks that it did.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.live.test_proton_import import import_json
from tests.support import proton_aftermath as pa
from tests.support.processes import BaryonProcess, clean_environment, start_baryon
from tests.support.proton_aftermath import make_aftermath
from tests.support.samples import SAMPLES

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples is absent")

SETTINGS = {
    "BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.05",
    "BARYON_IMPORT_ITEM_PAUSE_SECONDS": "0.4",
}


def _wait(check: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _items(data_dir: Path) -> dict[str, int]:
    """How many items of the import are in each status (nothing before the plan is stored)."""
    path = data_dir / "baryon.db"
    if not path.exists():
        return {}
    with closing(sqlite3.connect(path, timeout=5)) as db:
        try:
            rows = db.execute("SELECT status, count(*) FROM import_items GROUP BY status")
            return {status: count for status, count in rows.fetchall()}
        except sqlite3.OperationalError:  # the schema is still being made
            return {}


def _stack_ids(server: BaryonProcess) -> dict[str, str]:
    cloudformation = server.client("cloudformation")
    return {
        stack["StackName"]: stack["StackId"]
        for page in cloudformation.get_paginator("describe_stacks").paginate()
        for stack in page["Stacks"]
    }


def test_an_import_killed_midway_resumes_when_run_again_and_completes(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = start_baryon(data_dir, env=SETTINGS)
    try:
        made = make_aftermath(first.client("cloudformation"), tmp_path / "export")
        stacks = _stack_ids(first)
        cli = subprocess.Popen(
            [sys.executable, "-m", "baryon.cli.main", "import", str(made.export_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=clean_environment(
                **{k: v for k, v in first.exports.items() if k != "AWS_DATA_PATH"}
            ),
        )
        try:
            _wait(
                lambda: _items(data_dir).get("APPLIED", 0) >= 4,
                "some items to be applied",
            )
        finally:
            first.stop(signal.SIGKILL)
            cli.kill()
            cli.wait(30)
    finally:
        first.stop(signal.SIGKILL)
    interrupted = _items(data_dir)
    assert interrupted.get("PENDING", 0) > 0, interrupted  # killed midway, not after
    with closing(sqlite3.connect(data_dir / "baryon.db")) as db:
        ((import_id, status),) = db.execute("SELECT id, status FROM imports").fetchall()
    assert status == "APPLYING"

    second = start_baryon(data_dir, env=SETTINGS)
    try:
        again = import_json(second, made.export_dir)

        assert again["import"]["id"] == import_id  # the same import, resumed
        assert again["import"]["status"] == "SUCCEEDED", again["import"]
        assert {item["status"] for item in again["items"] if item["action"] != "SKIP"} == {
            "APPLIED"
        }
        assert again["import"]["failedCount"] == 0
        assert _stack_ids(second) == stacks
        proton = second.client("proton")
        # Each resource once, with the one deployment its import recorded.
        deployments = proton.list_deployments()["deployments"]
        assert sorted(d["id"] for d in deployments) == sorted(made.deployment_ids.values())
        for service, names in pa.INSTANCES.items():
            listed = proton.list_service_instances(serviceName=service)["serviceInstances"]
            assert sorted(i["name"] for i in listed) == sorted(names)
            assert {i["deploymentStatus"] for i in listed} == {"SUCCEEDED"}
        assert (
            proton.get_environment(name=pa.ENVIRONMENT)["environment"]["deploymentStatus"]
            == "SUCCEEDED"
        )
        with closing(sqlite3.connect(data_dir / "baryon.db")) as db:
            assert db.execute("SELECT count(*) FROM imports").fetchone() == (1,)
            adopted = dict(db.execute("SELECT stack_name, stack_id FROM adopted_stacks"))
        assert adopted == {made.stacks[r].name: made.stacks[r].stack_id for r in made.stacks}
    finally:
        second.stop()
