"""An instance update's deployment states: the target state is the initial one at the new
version and spec, from one read of what the instance deploys beside (its environment's and
its pipeline's last deployments)."""

from __future__ import annotations

from sqlalchemy import event, select

from baryon.operations import service_instances as instance_operations
from baryon.operations import services as service_operations
from baryon.runtime import Runtime
from baryon.store.tables import Deployment, Environment, ServicePipeline
from tests.domain.test_spec_parsing import (
    REPOSITORY,
    SERVICE_SPEC,
    _call,
    _environment,
    _work_off,
)


def test_an_instance_update_reads_its_pipeline_once_and_targets_the_same_neighbours(
    runtime: Runtime,
) -> None:
    _environment(runtime)
    _work_off(runtime)
    _call(
        runtime,
        service_operations.create_service,
        "CreateService",
        {
            "name": "web",
            "templateName": "webapp",
            "templateMajorVersion": "1",
            "spec": SERVICE_SPEC,
            **REPOSITORY,
        },
    )
    _work_off(runtime)
    update = SERVICE_SPEC.replace("      port: 8080\n", "      port: 9090\n")
    pipeline_reads: list[str] = []

    def seen(*args: object) -> None:
        statement = str(args[2])
        if statement.lstrip().upper().startswith("SELECT") and "service_pipelines" in statement:
            pipeline_reads.append(statement)

    event.listen(runtime.db.engine, "before_cursor_execute", seen)
    try:
        result = _call(
            runtime,
            instance_operations.update_service_instance,
            "UpdateServiceInstance",
            {
                "serviceName": "web",
                "name": "one",
                "deploymentType": "CURRENT_VERSION",
                "spec": update,
            },
        )
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", seen)
    assert len(pipeline_reads) == 1

    deployment_id = result["serviceInstance"]["lastAttemptedDeploymentId"]
    with runtime.db.session() as session:
        deployment = session.get(Deployment, deployment_id)
        environment = session.scalars(select(Environment)).one()
        pipeline = session.scalars(select(ServicePipeline)).one()
        assert deployment is not None
        initial = deployment.initial_state["serviceInstance"]
        target = deployment.target_state["serviceInstance"]
    assert target == {
        **initial,
        "spec": update,
        "templateMajorVersion": "1",
        "templateMinorVersion": initial["templateMinorVersion"],
    }
    assert initial["spec"] == SERVICE_SPEC
    assert target["lastSuccessfulEnvironmentDeploymentId"] == (
        environment.last_succeeded_deployment_id
    )
    assert target["lastSuccessfulServicePipelineDeploymentId"] == (
        pipeline.last_succeeded_deployment_id
    )
    assert pipeline.last_succeeded_deployment_id is not None
