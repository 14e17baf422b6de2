"""What Proton's other provisioning left, imported in-process against a real store, the local
cloud and a real git repository: self-managed (pull-request) Terraform resources are linked to
their folders in the provisioning repository, and their pipeline's reports are accepted."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from sqlalchemy import select

from baryon.cloud.process import LocalCloudProcess
from baryon.domain import deployments, repositories
from baryon.domain.errors import Conflict
from baryon.domain.git import ConnectionSecrets
from baryon.operations.deployment_status_reports import (
    notify_resource_deployment_status_change,
)
from baryon.operations.in_process import context
from baryon.runtime import Runtime
from baryon.service_models.baryon import ConnectionProvider, ImportMode
from baryon.store.tables import AdoptedStackRow, Environment, ServiceInstance
from tests.git.conftest import git
from tests.importing.test_import_plan import _import, _skipped, export, runtime  # noqa: F401
from tests.support import proton_aftermath as pa
from tests.support.principals import ADMIN
from tests.support.proton_aftermath import SelfManaged, add_self_managed

ENV_ARN = pa.arn(f"environment/{pa.TF_ENVIRONMENT}")
INSTANCE_ARN = pa.arn(f"service/{pa.TF_SERVICE}/service-instance/{pa.TF_INSTANCE}")
INSTANCE = f"{pa.TF_SERVICE}/{pa.TF_INSTANCE}"


def _repository(root: Path) -> Path:
    """A bare repository at <root>/remotes/acme/infra.git and its clone, with one commit."""
    bare = root / "remotes" / f"{pa.INFRA_REPOSITORY}.git"
    work = root / "work"
    bare.parent.mkdir(parents=True)
    git(root, "init", "-q", "--bare", str(bare))
    git(root, "clone", "-q", str(bare), str(work))
    (work / "README.md").write_text("infrastructure\n")
    git(work, "add", "README.md")
    git(work, "commit", "-q", "-m", "start")
    git(work, "push", "-q", "origin", "main")
    return work


def _register(baryon: Runtime, root: Path) -> None:
    """acme/infra registered in Baryon (GITHUB), reached through a GIT connection on disk."""
    now = datetime.now(UTC)
    with baryon.db.session(write=True) as session:
        connection = repositories.create_connection(
            session,
            baryon.arns,
            repositories.NewConnection(
                "disk", ConnectionProvider.GIT, f"{root / 'remotes'}/", ConnectionSecrets()
            ),
            None,
            now,
        )
        repositories.create_repository(
            session,
            baryon.arns,
            provider="GITHUB",
            name=pa.INFRA_REPOSITORY,
            connection_arn=connection.arn,
            encryption_key=None,
            now=now,
        )


@pytest.fixture
def self_managed(export: Path, tmp_path: Path) -> SelfManaged:  # noqa: F811
    return add_self_managed(export, _repository(tmp_path / "git"), git)


def _notify(baryon: Runtime, arn: str, deployment_id: str, outputs: dict[str, str]) -> None:
    """What the customer's pipeline (TF-GHA proton_run.yml) sends after terraform apply."""
    notify_resource_deployment_status_change(
        context(baryon, "pipeline", "NotifyResourceDeploymentStatusChange", principal=ADMIN),
        {
            "resourceArn": arn,
            "status": "SUCCEEDED",
            "deploymentId": deployment_id,
            "outputs": [{"key": k, "valueString": v} for k, v in outputs.items()],
        },
    )


def test_self_managed_resources_are_linked_to_their_folders_and_their_pipeline_reports_accepted(
    runtime: Runtime,  # noqa: F811
    export: Path,  # noqa: F811
    self_managed: SelfManaged,
    tmp_path: Path,
) -> None:
    _register(runtime, tmp_path / "git")

    status, plan = _import(runtime, export, ImportMode.PLAN)

    assert status == "PLANNED"
    environment = plan[("LINK ENVIRONMENT", pa.TF_ENVIRONMENT)]["detail"]
    assert environment.startswith(
        f"provisioned by pull request: {pa.TF_ENVIRONMENT}/.proton/deployment-metadata.json in "
        f"GITHUB repository {pa.INFRA_REPOSITORY} (branch main) at {self_managed.commit[:12]}; "
        f"its deployment {self_managed.deployment_ids['environment']} is kept"
    )
    instance = plan[("LINK SERVICE_INSTANCE", INSTANCE)]["detail"]
    assert f"{pa.TF_ENVIRONMENT}/{pa.TF_SERVICE}-{pa.TF_INSTANCE}/.proton/" in instance
    assert ("CREATE SERVICE_TEMPLATE_VERSION", f"{pa.TF_SVC_TEMPLATE} 1.0") in plan

    status, items = _import(runtime, export)

    assert status == "SUCCEEDED", items
    assert items[("LINK ENVIRONMENT", pa.TF_ENVIRONMENT)]["status"] == "APPLIED"
    assert items[("LINK SERVICE_INSTANCE", INSTANCE)]["status"] == "APPLIED"
    with runtime.db.session() as session:
        row = session.scalars(
            select(Environment).where(Environment.name == pa.TF_ENVIRONMENT)
        ).one()
        assert row.provisioning is None  # AWS-managed template, provisioned by pull request
        assert row.provisioning_repository == {
            "provider": "GITHUB",
            "name": pa.INFRA_REPOSITORY,
            "branch": "main",
        }
        assert row.last_succeeded_deployment_id == self_managed.deployment_ids["environment"]
        assert (
            deployments.outputs_of(session, row.last_succeeded_deployment_id)
            == (self_managed.outputs["environment"])
        )
        instance_row = session.scalars(
            select(ServiceInstance).where(ServiceInstance.name == pa.TF_INSTANCE)
        ).one()
        assert instance_row.last_succeeded_deployment_id == self_managed.deployment_ids["instance"]
        adopted = set(session.scalars(select(AdoptedStackRow.resource_arn)))
        assert ENV_ARN not in adopted and INSTANCE_ARN not in adopted

    # The pipeline applies the folder again and reports, with the id its metadata file holds.
    _notify(runtime, ENV_ARN, self_managed.deployment_ids["environment"], {"Network": "net-2"})
    _notify(runtime, INSTANCE_ARN, self_managed.deployment_ids["instance"], {"App": "app-2"})
    with runtime.db.session() as session:
        assert deployments.outputs_of(session, self_managed.deployment_ids["environment"]) == {
            "Network": "net-2"
        }
        assert deployments.outputs_of(session, self_managed.deployment_ids["instance"]) == {
            "App": "app-2"
        }
    with pytest.raises(Exception, match="is not the current deployment") as refused:
        _notify(runtime, ENV_ARN, "00000000-0000-4000-8000-000000000000", {"Network": "x"})
    assert not isinstance(refused.value, Conflict)

    status, again = _import(runtime, export)

    assert status == "SUCCEEDED"
    assert again[("MATCH ENVIRONMENT", pa.TF_ENVIRONMENT)]["detail"] == (
        "already in Baryon, provisioned by pull request as imported"
    )
    assert ("MATCH SERVICE_INSTANCE", INSTANCE) in again
    assert not [key for key in again if key[0].startswith(("CREATE", "LINK", "ADOPT"))]


def test_a_self_managed_resource_is_skipped_with_why_when_its_folder_cannot_be_found(
    runtime: Runtime,  # noqa: F811
    export: Path,  # noqa: F811
    self_managed: SelfManaged,
    tmp_path: Path,
) -> None:
    status, items = _import(runtime, export, ImportMode.PLAN)

    assert status == "PLANNED"
    skipped = _skipped(items)
    assert skipped[f"ENVIRONMENT {pa.TF_ENVIRONMENT}"].startswith(
        f"its provisioning repository: GITHUB repository {pa.INFRA_REPOSITORY} (branch main) is "
        "not registered in Baryon"
    )
    assert (
        "aws proton create-repository --provider GITHUB"
        in skipped[f"ENVIRONMENT {pa.TF_ENVIRONMENT}"]
    )
    assert skipped[f"SERVICE_INSTANCE {INSTANCE}"] == (
        f"environment '{pa.TF_ENVIRONMENT}' is not imported"
    )

    # Registered, but the instance's folder is gone.
    _register(runtime, tmp_path / "git")
    work = tmp_path / "git" / "work"
    git(work, "rm", "-q", "-r", f"{pa.TF_ENVIRONMENT}/{pa.TF_SERVICE}-{pa.TF_INSTANCE}")
    git(work, "commit", "-q", "-m", "instance folder removed")
    git(work, "push", "-q", "origin", "main")

    status, items = _import(runtime, export, ImportMode.PLAN)

    assert ("CREATE ENVIRONMENT", pa.TF_ENVIRONMENT) in items
    assert _skipped(items)[f"SERVICE_INSTANCE {INSTANCE}"] == (
        f"no .proton/deployment-metadata.json in GITHUB repository {pa.INFRA_REPOSITORY} "
        f"(branch main) names {INSTANCE_ARN}"
    )

    # The environment's metadata says Proton deleted it: its pipeline destroys it.
    metadata = work / pa.TF_ENVIRONMENT / ".proton" / "deployment-metadata.json"
    text = metadata.read_text().replace('"isResourceDeleted": false', '"isResourceDeleted": true')
    metadata.write_text(text)
    git(work, "commit", "-q", "-am", "deleted")
    git(work, "push", "-q", "origin", "main")

    status, items = _import(runtime, export, ImportMode.PLAN)

    assert _skipped(items)[f"ENVIRONMENT {pa.TF_ENVIRONMENT}"].startswith(
        f"{pa.TF_ENVIRONMENT}/.proton/deployment-metadata.json in GITHUB repository "
        f"{pa.INFRA_REPOSITORY} (branch main) marks it deleted"
    )


def test_a_codebuild_provisioned_environment_is_adopted_with_its_exported_outputs(
    runtime: Runtime,  # noqa: F811
    export: Path,  # noqa: F811
) -> None:
    deployment = pa.add_codebuild(export)

    status, items = _import(runtime, export)

    assert status == "SUCCEEDED", items
    adopted = items[("ADOPT ENVIRONMENT", pa.CB_ENVIRONMENT)]
    assert adopted["status"] == "APPLIED"
    assert adopted["detail"] == (
        "provisioned by CodeBuild: what its commands built is kept as it is, with its outputs "
        "as exported (BucketName, QueueUrl); its next deployment runs the bundle's provision "
        "commands again, as an update of what they built"
    )
    with runtime.db.session() as session:
        row = session.scalars(
            select(Environment).where(Environment.name == pa.CB_ENVIRONMENT)
        ).one()
        assert row.codebuild_role_arn == pa.CB_ROLE
        assert row.deployment_status == "SUCCEEDED"
        assert row.last_succeeded_deployment_id == deployment
        assert deployments.outputs_of(session, deployment) == pa.CB_OUTPUTS
        assert (
            session.scalar(
                select(AdoptedStackRow).where(
                    AdoptedStackRow.resource_arn == pa.arn(f"environment/{pa.CB_ENVIRONMENT}")
                )
            )
            is None
        )


def test_a_codebuild_provisioned_environment_without_exported_outputs_is_skipped(
    runtime: Runtime,  # noqa: F811
    export: Path,  # noqa: F811
) -> None:
    pa.add_codebuild(export, outputs=False)

    status, items = _import(runtime, export, ImportMode.PLAN)

    assert status == "PLANNED"
    assert _skipped(items)[f"ENVIRONMENT {pa.CB_ENVIRONMENT}"].startswith(
        "it provisions with CodeBuild, and the export holds no outputs for it"
    )


def test_a_stack_whose_role_trusts_only_proton_is_adopted_with_what_to_change(
    runtime: Runtime,  # noqa: F811
    export: Path,  # noqa: F811
    cloudformation: Any,
    proton_cloud: LocalCloudProcess,
) -> None:
    iam = boto3.client(
        "iam",
        endpoint_url=proton_cloud.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    name, stack = pa.add_role_stack(cloudformation, iam, export)
    try:
        status, items = _import(runtime, export, ImportMode.PLAN)
    finally:
        cloudformation.delete_stack(StackName=stack.stack_id)

    assert status == "PLANNED"
    detail = items[("ADOPT ENVIRONMENT", name)]["detail"]
    role = f"arn:aws:iam::{pa.ACCOUNT}:role/proton-svc-{name}"
    assert detail.endswith(
        f"; but its stack's RoleARN {role} trusts proton.amazonaws.com, not "
        "cloudformation.amazonaws.com, so CloudFormation will refuse its next update: add "
        "cloudformation.amazonaws.com to that role's trust policy (aws iam "
        "update-assume-role-policy)"
    )
    # The other stacks name no role: nothing to say about them.
    assert "RoleARN" not in items[("ADOPT ENVIRONMENT", pa.ENVIRONMENT)]["detail"]
