"""A worker killed with SIGKILL in the middle of a Terraform apply (scaled mode, real processes
on PostgreSQL): another worker resumes the deployment, takes over the state lock the dead run
left, and finishes; the state Baryon keeps holds the resource once, and no lock is left."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from baryon.auth.master_key import SecretBox
from baryon.operations.terraform_state import TerraformStates
from baryon.store.database import Database
from baryon.store.tables import Deployment, DeploymentEvent
from tests.support.bundles import ENV_SCHEMA, Registry, tar_gz
from tests.support.cluster import Cluster, start_cluster
from tests.support.terraform_exe import path_with_terraform

ARN = "arn:aws:proton:us-east-1:123456789012:environment/tf-killed"
MANIFEST = """\
infrastructure:
  templates:
    - file: "*"
      rendering_engine: hcl
      template_language: terraform
"""
# The apply takes a while (a built-in local-exec provisioner), long enough to kill it mid-way.
SLOW_TF = """\
resource "terraform_data" "slow" {
  input = var.environment.name
  provisioner "local-exec" {
    command = "echo creating the slow resource; sleep 4"
  }
}
output "Name" { value = terraform_data.slow.output }
"""


@pytest.fixture(scope="module")
def cluster(postgres_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = start_cluster(
        tmp_path_factory.mktemp("terraform-cluster"),
        postgres_server.create_database(),
        servers=1,
        workers=0,
    )
    running.env["PATH"] = path_with_terraform()
    # Workers send Terraform to the server's state backend (settings.program_api_endpoint).
    running.env["BARYON_PROGRAM_API_ENDPOINT"] = f"http://127.0.0.1:{running.servers[0].port}"
    running.start_worker()
    yield running
    running.stop()


def _events(db: Database, deployment_id: str) -> list[str]:
    with db.session() as session:
        return list(
            session.scalars(
                select(DeploymentEvent.message)
                .where(DeploymentEvent.deployment_id == deployment_id)
                .order_by(DeploymentEvent.id)
            )
        )


def _wait_for(check: Any, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_a_worker_killed_mid_apply_leaves_a_deployment_another_worker_finishes(
    cluster: Cluster,
) -> None:
    proton = cluster.client()
    registry = Registry(proton, cluster.client("s3"), bucket="baryon-bundles-123456789012")
    proton.create_environment_template(name="tf-slow")
    files = {
        "schema/schema.yaml": ENV_SCHEMA,
        "infrastructure/manifest.yaml": MANIFEST,
        "infrastructure/main.tf": SLOW_TF,
    }
    registry.publish(
        "environment", "tf-slow", registry.register("environment", "tf-slow", tar_gz(files))
    )
    proton.create_environment(
        protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
        name="tf-killed",
        templateName="tf-slow",
        templateMajorVersion="1",
        spec="proton: EnvironmentSpec\n",
    )
    db = Database(cluster.database_url)
    box = SecretBox(cluster.env["BARYON_MASTER_KEY"].encode())
    try:
        deployment_id = _wait_for(
            lambda: proton.get_environment(name="tf-killed")["environment"].get(
                "lastAttemptedDeploymentId"
            )
        )
        _wait_for(
            lambda: any("creating the slow resource" in e for e in _events(db, deployment_id))
        )
        killed = cluster.workers.pop()
        killed.kill()
        cluster.start_worker()

        def ended() -> str | None:
            with db.session() as session:
                status = session.scalar(
                    select(Deployment.status).where(Deployment.id == deployment_id)
                )
            return status if status not in (None, "IN_PROGRESS") else None

        assert _wait_for(ended, timeout=180) == "SUCCEEDED", _events(db, deployment_id)[-30:]
        events = _events(db, deployment_id)
        assert any(f"left by an earlier run ({deployment_id})" in e for e in events), events
        states = TerraformStates(db, box)
        assert states.locked_by(ARN) is None
        latest = states.version(ARN)
        assert latest is not None
        state = json.loads(latest.state)
        assert [(r["type"], r["name"], len(r["instances"])) for r in state["resources"]] == [
            ("terraform_data", "slow", 1)
        ]
        assert state["outputs"]["Name"]["value"] == "tf-killed"
    finally:
        db.dispose()
