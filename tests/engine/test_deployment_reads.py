"""What the deploy job reads before it renders (deploy._prepare) and when it records the
outcome, counted on a private SQLite store: each row once, and nothing an instance's
deployment does not use (issue 17: a fleet upgrade pays each statement once per instance)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import event, select

from baryon.domain import outcomes
from baryon.engine import deploy
from baryon.operations import service_instances as instance_operations
from baryon.runtime import Runtime
from baryon.service_models.proton import DeploymentStatus
from baryon.store.tables import (
    AccountSettingsRow,
    Deployment,
    Environment,
    ServiceInstance,
    SpecText,
    TemplateVersion,
)
from tests.domain.conftest import runtime  # noqa: F401 (the fixture)
from tests.domain.test_spec_parsing import _call, _work_off
from tests.domain.test_spec_storage import _create_service
from tests.support.statements import statements_run


def test_an_instance_deployment_reads_its_environment_once_and_no_account_settings(
    runtime: Runtime,  # noqa: F811
) -> None:
    _create_service(runtime)
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    with runtime.db.session() as session:
        deployment = session.scalars(
            select(Deployment).where(Deployment.service_instance_name == "one")
        ).one()
        event.listen(runtime.db.engine, "before_cursor_execute", count)
        try:
            work = deploy._prepare(session, runtime, deployment)
        finally:
            event.remove(runtime.db.engine, "before_cursor_execute", count)
    assert work.target is not None and work.self_managed is None
    tables = Counter(
        table.__tablename__
        for statement in statements
        for table in (Environment, AccountSettingsRow)
        if f"FROM {table.__tablename__}" in statement
    )
    assert tables == {Environment.__tablename__: 1}
    assert _work_off(runtime) >= 1  # and the deployment still renders


def _redeploy_recorded(runtime: Runtime) -> tuple[Deployment, list[str]]:  # noqa: F811
    """Instance "one" redeployed at its version, and its success recorded: the deployment
    and the statements the recording ran."""
    _create_service(runtime)
    _work_off(runtime)
    _call(
        runtime,
        instance_operations.update_service_instance,
        "UpdateServiceInstance",
        {"serviceName": "web", "name": "one", "deploymentType": "CURRENT_VERSION"},
    )
    with runtime.db.session() as session:
        deployment = session.scalars(
            select(Deployment).where(
                Deployment.service_instance_name == "one", Deployment.status == "IN_PROGRESS"
            )
        ).one()
    with (
        statements_run(runtime.db.engine) as statements,
        runtime.db.session(write=True) as session,
    ):
        result = outcomes.Result(DeploymentStatus.SUCCEEDED)
        outcomes.record(session, runtime.arns, deployment.id, result, datetime.now(UTC))
    return deployment, statements


def test_recording_a_redeploy_of_the_services_own_spec_reads_that_text_at_most_once(
    runtime: Runtime,  # noqa: F811
) -> None:
    deployment, statements = _redeploy_recorded(runtime)
    # The deployment's own text, for its plan, unless the process has read it already
    # (store/spec_texts.py keeps texts read by key); the instance and the service name the
    # same text (compared by key) and are neither read nor written again.
    texts = [s for s in statements if SpecText.__tablename__ in s]
    assert len(texts) <= 1 and all(s.lstrip().upper().startswith("SELECT") for s in texts), texts
    with runtime.db.session() as session:
        assert session.get(Deployment, deployment.id).status == DeploymentStatus.SUCCEEDED


def test_recording_an_upgrade_takes_the_deployed_version_from_the_target_state(
    runtime: Runtime,  # noqa: F811
) -> None:
    deployment, statements = _redeploy_recorded(runtime)
    assert not [s for s in statements if f"FROM {TemplateVersion.__tablename__}" in s]
    with runtime.db.session() as session:
        instance = session.scalars(
            select(ServiceInstance).where(ServiceInstance.name == "one")
        ).one()
        assert (instance.template_major, instance.template_minor) == (1, 0)
        assert instance.last_succeeded_deployment_id == deployment.id
