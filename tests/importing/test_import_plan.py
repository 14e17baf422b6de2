"""The import job in-process, against a real store and the local cloud holding the aftermath:
what the plan decides when the export, the account or Baryon disagree, and how applying
resumes and refuses to run two imports at once."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from baryon.bundles.pack import pack_files
from baryon.bundles.tree import read_tree
from baryon.cloud.clients import cloud_client
from baryon.cloud.process import LocalCloudProcess
from baryon.domain import imports
from baryon.domain.errors import Conflict
from baryon.engine import imports as import_job
from baryon.engine.handlers import JobContext, LeaseLost
from baryon.importing.limits import DEFAULT_LIMITS
from baryon.runtime import Runtime, build_runtime
from baryon.service_models.baryon import ImportMode
from baryon.settings import load_settings
from baryon.store.tables import (
    AdoptedStackRow,
    Deployment,
    Environment,
    ImportItemRow,
    ImportRow,
    Service,
    Template,
)
from tests.support import proton_aftermath as pa
from tests.support.proton_aftermath import Aftermath

Items = dict[tuple[str, str], dict[str, Any]]


@pytest.fixture(params=["sqlite", "postgresql"])
def runtime(
    request: pytest.FixtureRequest, tmp_path: Path, proton_cloud: LocalCloudProcess
) -> Iterator[Runtime]:
    """A store (each test runs on SQLite and on the suite's PostgreSQL) and the cloud."""
    database = ""
    if request.param == "postgresql":
        database = request.getfixturevalue("postgres_server").create_database()
    settings = load_settings(
        {
            "data_dir": tmp_path / "data",
            "database_url": database,
            "cloud_endpoint": proton_cloud.endpoint,
            "cloud_access_key_id": "testing",
            "cloud_secret_access_key": "testing",
        },
        environ={},
    )
    runtime = build_runtime(settings)
    s3 = cloud_client(settings, "s3")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=settings.resolved_bundle_bucket)
    yield runtime
    runtime.close()


@pytest.fixture
def export(aftermath: Aftermath, tmp_path: Path) -> Path:
    """A copy of the aftermath's export, for a test to change."""
    target = tmp_path / "export"
    shutil.copytree(aftermath.export_dir, target)
    return target


def _upload(runtime: Runtime, export_dir: Path) -> str:
    archive = pack_files(read_tree(export_dir, DEFAULT_LIMITS.tree()), DEFAULT_LIMITS.tree())
    key = f"imports/{hashlib.sha256(archive).hexdigest()[:32]}.tar.gz"
    cloud_client(runtime.settings, "s3").put_object(
        Bucket=runtime.settings.resolved_bundle_bucket, Key=key, Body=archive
    )
    return key


def _start(runtime: Runtime, key: str, mode: ImportMode, account: bool = False) -> str:
    with runtime.db.session(write=True) as session:
        row, _ = imports.start_import(
            session,
            source=(runtime.settings.resolved_bundle_bucket, key),
            mode=mode,
            include_account_stacks=account,
            now=datetime.now(UTC),
        )
        return row.id


def _context(runtime: Runtime) -> JobContext:
    return JobContext(runtime, job_id=1, attempt=1, max_attempts=5)


def _import(
    runtime: Runtime, export_dir: Path, mode: ImportMode = ImportMode.APPLY, account: bool = False
) -> tuple[str, Items]:
    import_id = _start(runtime, _upload(runtime, export_dir), mode, account)
    import_job.run(_context(runtime), {"import_id": import_id})
    return _result(runtime, import_id)


def _result(runtime: Runtime, import_id: str) -> tuple[str, Items]:
    with runtime.db.session() as session:
        status = session.get_one(ImportRow, import_id).status
        rows = session.scalars(
            select(ImportItemRow)
            .where(ImportItemRow.import_id == import_id)
            .order_by(ImportItemRow.position)
        )
        items = {
            (
                row.action + " " + row.resource_type,
                row.name + (f" {row.template_version}" if row.template_version else ""),
            ): {
                "status": row.status,
                "detail": row.detail,
                "message": row.message,
            }
            for row in rows
        }
    return status, items


def _edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def _skipped(items: Items) -> dict[str, str]:
    return {
        f"{kind.split()[1]} {name}": str(item["detail"])
        for (kind, name), item in items.items()
        if kind.startswith("SKIP")
    }


def test_a_plan_changes_nothing_and_applying_it_creates_each_resource_with_its_stack(
    runtime: Runtime, export: Path, aftermath: Aftermath
) -> None:
    status, planned = _import(runtime, export, ImportMode.PLAN)

    assert status == "PLANNED"
    assert _skipped(planned) == {}
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Template)) == 0

    status, applied = _import(runtime, export)

    assert status == "SUCCEEDED"
    assert list(applied) == list(planned)
    assert {item["status"] for item in applied.values()} == {"APPLIED"}
    with runtime.db.session() as session:
        adopted = {row.stack_name: row.stack_id for row in session.scalars(select(AdoptedStackRow))}
        environment = session.scalars(select(Environment)).one()
        record = session.get_one(Deployment, environment.last_succeeded_deployment_id)
        assert record.id == aftermath.deployment_ids["environment"]
    assert adopted == aftermath.every_stack


def test_an_instance_whose_spec_no_longer_validates_is_skipped_and_left_out_of_its_service(
    runtime: Runtime, export: Path
) -> None:
    def spoil(document: dict[str, Any]) -> None:
        instance = document["serviceInstance"]
        instance["spec"] = instance["spec"].replace("desired_count: 2", "desired_count: lots")

    _edit(export / "services/frontend/instances/web-two.json", spoil)

    status, items = _import(runtime, export)

    assert status == "SUCCEEDED"
    reason = _skipped(items)["SERVICE_INSTANCE frontend/web-two"]
    assert reason.startswith(
        f"its spec no longer validates against service template {pa.SVC_TEMPLATE} 1.0"
    )
    assert ("ADOPT SERVICE_INSTANCE", "frontend/web-two") not in items
    assert items[("CREATE SERVICE_INSTANCE", "frontend/web-one")]["status"] == "APPLIED"
    with runtime.db.session() as session:
        spec = session.scalars(select(Service).where(Service.name == "frontend")).one().spec
    assert "web-one" in spec and "web-two" not in spec  # Baryon would make it anew


def test_a_template_baryon_has_with_other_provisioning_skips_all_that_depends_on_it(
    runtime: Runtime, export: Path
) -> None:
    now = datetime.now(UTC)
    with runtime.db.session(write=True) as session:
        session.add(
            Template(
                kind="SERVICE",
                name=pa.SVC_TEMPLATE,
                provisioning="CUSTOMER_MANAGED",
                created_at=now,
                last_modified_at=now,
            )
        )

    status, items = _import(runtime, export)

    skipped = _skipped(items)
    assert skipped[f"SERVICE_TEMPLATE {pa.SVC_TEMPLATE}"].startswith(
        f"Baryon has a service template '{pa.SVC_TEMPLATE}' with other provisioning"
    )
    assert skipped[f"SERVICE_TEMPLATE_VERSION {pa.SVC_TEMPLATE} 1.1"].startswith("Baryon has")
    assert (
        skipped["SERVICE frontend"] == "Baryon has a service template 'lb-fargate-svc' with "
        "other provisioning (CUSTOMER_MANAGED, not AWS-managed)"
    )
    assert skipped["SERVICE_INSTANCE backend/api"] == "its service 'backend' is not imported"
    assert skipped["SERVICE_PIPELINE frontend"] == "its service 'frontend' is not imported"
    # What does not depend on it is imported.
    assert items[("CREATE ENVIRONMENT", pa.ENVIRONMENT)]["status"] == "APPLIED"
    assert items[("CREATE COMPONENT", pa.COMPONENT)]["status"] == "APPLIED"
    assert status == "SUCCEEDED"


def test_a_version_without_a_bundle_is_recovered_from_the_stacks_that_run_it_or_skipped(
    runtime: Runtime, export: Path, aftermath: Aftermath
) -> None:
    (export / "bundles" / f"{pa.SVC_TEMPLATE}-1.1.tar.gz").unlink()
    shutil.rmtree(export / "bundles" / "service-templates")

    status, items = _import(runtime, export)

    recovered = items[("RECOVER SERVICE_TEMPLATE_VERSION", f"{pa.SVC_TEMPLATE} 1.1")]
    assert recovered["detail"].startswith(
        f"recovered from stack {aftermath.stacks['backend/api'].name}"
    )
    assert _skipped(items) == {
        f"SERVICE_TEMPLATE_VERSION {pa.SVC_TEMPLATE} 1.2": "the export has no bundle for it, "
        "and no stack of a resource running it to recover it from"
    }
    assert items[("CREATE SERVICE_INSTANCE", "backend/api")]["status"] == "APPLIED"
    assert status == "SUCCEEDED"


def test_a_bundle_that_fails_registration_skips_its_version_and_the_resources_on_it(
    runtime: Runtime, export: Path
) -> None:
    broken = export / "bundles" / pa.SVC_TEMPLATE / "v1.0" / "instance_infrastructure"
    (broken / "cloudformation.yaml").write_text("Resources: {% if %}\n")

    status, items = _import(runtime, export)

    skipped = _skipped(items)
    assert skipped[f"SERVICE_TEMPLATE_VERSION {pa.SVC_TEMPLATE} 1.0"].startswith(
        f"its bundle (bundles/{pa.SVC_TEMPLATE}/v1.0) fails registration: "
        "instance_infrastructure/cloudformation.yaml"
    )
    assert skipped["SERVICE_INSTANCE frontend/web-one"].startswith(
        f"service template {pa.SVC_TEMPLATE} 1.0 is not imported: its bundle"
    )
    assert "SERVICE_PIPELINE frontend" in skipped
    assert items[("CREATE SERVICE_INSTANCE", "backend/api")]["status"] == "APPLIED"  # on 1.1
    assert status == "SUCCEEDED"


def test_an_environment_proton_never_deployed_skips_what_runs_in_it(
    runtime: Runtime, export: Path
) -> None:
    def failed(document: dict[str, Any]) -> None:
        document["environment"]["deploymentStatus"] = "FAILED"
        del document["environment"]["lastSucceededDeploymentId"]

    _edit(export / f"environments/{pa.ENVIRONMENT}.json", failed)

    _, items = _import(runtime, export, ImportMode.PLAN)

    skipped = _skipped(items)
    assert skipped[f"ENVIRONMENT {pa.ENVIRONMENT}"] == "Proton never deployed it successfully"
    assert skipped["SERVICE_INSTANCE frontend/web-one"] == (
        f"environment '{pa.ENVIRONMENT}' is not imported"
    )
    assert skipped[f"COMPONENT {pa.COMPONENT}"] == f"environment '{pa.ENVIRONMENT}' is not imported"
    # The recovered version is still recovered: its stack is there.
    assert ("RECOVER ENVIRONMENT_TEMPLATE_VERSION", f"{pa.ENV_TEMPLATE} 1.0") in items


def test_a_resource_whose_stack_is_not_found_is_skipped_with_why(
    runtime: Runtime, export: Path
) -> None:
    component = export / f"components/{pa.COMPONENT}.json"
    _edit(component, lambda d: d["component"].update(arn=pa.arn("component/elsewhere")))
    (export / f"components/{pa.COMPONENT}/provisioned-resources.json").unlink()

    _, items = _import(runtime, export, ImportMode.PLAN, account=True)

    skipped = _skipped(items)
    assert skipped[f"COMPONENT {pa.COMPONENT}"].startswith(
        "its stack: not found: no stack is tagged"
    )
    # --account lists the stack nobody claims now.
    (orphan,) = [name for name in skipped if name.startswith("STACK ")]
    assert "proton:component" in skipped[orphan]


def test_a_name_baryon_uses_for_a_resource_it_deployed_itself_is_skipped(
    runtime: Runtime, export: Path
) -> None:
    _import(runtime, export)
    with runtime.db.session(write=True) as session:
        session.execute(AdoptedStackRow.__table__.delete())

    status, items = _import(runtime, export)

    assert _skipped(items)[f"ENVIRONMENT {pa.ENVIRONMENT}"].startswith(
        "the name is used in Baryon by an environment that Baryon deployed itself"
    )
    assert status == "SUCCEEDED"


class _LeaseLostAfter(threading.Event):
    """A lease that is lost once ``items`` items have been applied."""

    def __init__(self, items: int) -> None:
        super().__init__()
        self.left = items

    def is_set(self) -> bool:
        self.left -= 1
        return self.left < 0


def test_an_interrupted_import_resumes_where_it_stopped_and_applies_nothing_twice(
    runtime: Runtime, export: Path, aftermath: Aftermath
) -> None:
    import_id = _start(runtime, _upload(runtime, export), ImportMode.APPLY)
    interrupted = _context(runtime)
    interrupted.lease_lost = _LeaseLostAfter(7)
    with pytest.raises(LeaseLost):
        import_job.run(interrupted, {"import_id": import_id})
    status, items = _result(runtime, import_id)
    assert status == "APPLYING"
    # Two templates, four versions, and the environment with the adoption of its stack.
    assert [i["status"] for i in items.values()].count("APPLIED") == 8

    import_job.run(_context(runtime), {"import_id": import_id})

    status, items = _result(runtime, import_id)
    assert status == "SUCCEEDED"
    assert {i["status"] for i in items.values()} == {"APPLIED"}
    with runtime.db.session() as session:
        deployments = session.scalars(select(Deployment.id)).all()
    assert sorted(deployments) == sorted(aftermath.deployment_ids.values())


def test_a_second_export_is_not_applied_while_one_is_and_the_same_one_resumes(
    runtime: Runtime, export: Path
) -> None:
    first = _start(runtime, "imports/one.tar.gz", ImportMode.APPLY)

    with pytest.raises(Conflict, match=f"Import {first} is still being applied"):
        _start(runtime, "imports/two.tar.gz", ImportMode.APPLY)
    assert _start(runtime, "imports/one.tar.gz", ImportMode.APPLY) == first
    # A plan may be made meanwhile.
    assert _start(runtime, "imports/two.tar.gz", ImportMode.PLAN) != first


def test_an_export_missing_from_the_bucket_fails_the_import_with_why(runtime: Runtime) -> None:
    import_id = _start(runtime, "imports/missing.tar.gz", ImportMode.PLAN)

    import_job.run(_context(runtime), {"import_id": import_id})

    with runtime.db.session() as session:
        row = session.get_one(ImportRow, import_id)
        assert row.status == "FAILED"
        assert row.status_message and "imports/missing.tar.gz cannot be read" in row.status_message


def _adopt_elsewhere(runtime: Runtime, stack_name: str, stack_id: str) -> None:
    with runtime.db.session(write=True) as session:
        session.add(
            AdoptedStackRow(
                resource_arn=pa.arn("environment/someone-else"),
                engine="cloudformation",
                stack_name=stack_name,
                stack_id=stack_id,
                source="proton-import",
                adopted_at=datetime.now(UTC),
            )
        )


def test_a_stack_another_resource_keeps_is_not_adopted_again(
    runtime: Runtime, export: Path, aftermath: Aftermath
) -> None:
    stack = aftermath.stacks["environment"]
    _adopt_elsewhere(runtime, stack.name, stack.stack_id)

    _, items = _import(runtime, export, ImportMode.PLAN)

    assert _skipped(items)[f"ENVIRONMENT {pa.ENVIRONMENT}"] == (
        f"its stack {stack.name} is kept by {pa.arn('environment/someone-else')} already"
    )


def test_what_changed_between_the_plan_and_its_application_fails_with_why(
    runtime: Runtime, export: Path, aftermath: Aftermath
) -> None:
    import_id = _start(runtime, _upload(runtime, export), ImportMode.APPLY)
    interrupted = _context(runtime)
    interrupted.lease_lost = _LeaseLostAfter(6)  # templates and versions
    with pytest.raises(LeaseLost):
        import_job.run(interrupted, {"import_id": import_id})
    stack = aftermath.stacks["environment"]
    _adopt_elsewhere(runtime, stack.name, stack.stack_id)

    import_job.run(_context(runtime), {"import_id": import_id})

    status, items = _result(runtime, import_id)
    assert status == "FAILED"
    environment = items[("CREATE ENVIRONMENT", pa.ENVIRONMENT)]
    assert environment["status"] == "FAILED"
    assert environment["message"].startswith(
        "what the account or Baryon holds changed since the plan: now SKIP: its stack"
    )
    assert items[("ADOPT ENVIRONMENT", pa.ENVIRONMENT)]["message"].startswith("not adopted")
    assert items[("CREATE SERVICE_INSTANCE", "frontend/web-one")]["status"] == "FAILED"
    # What does not depend on the environment is applied.
    assert items[("CREATE SERVICE", "frontend")]["status"] == "APPLIED"
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Environment)) == 0
        row = session.get_one(ImportRow, import_id)
        assert row.status_message and "item(s) failed to apply" in row.status_message
