"""Each spec text is stored once: a service, its instances, its pipeline and their deployments
name the text by key (store/spec_texts.py), and the operations answer with it as before.

Requests run through the same operation functions as the API's, in process, on a private
SQLite database; deployments run as in tests/domain/test_spec_parsing.py (no cloud).
"""

from __future__ import annotations

import json

from sqlalchemy import delete, event, select

from baryon.operations import deployments as deployment_operations
from baryon.operations import environments as environment_operations
from baryon.operations import service_instances as instance_operations
from baryon.operations import services as service_operations
from baryon.runtime import Runtime
from baryon.store import spec_texts
from baryon.store.tables import (
    Base,
    Deployment,
    Service,
    ServiceInstance,
    ServicePipeline,
    SpecText,
)
from tests.domain.test_spec_parsing import (
    ENV_SPEC,
    REPOSITORY,
    SERVICE_SPEC,
    _call,
    _environment,
    _work_off,
)
from tests.support.statements import is_operation_read, statements_run


def _copies(runtime: Runtime, text: str) -> int:
    """How many times ``text`` is in the database: every cell of every table, as stored (JSON
    columns hold it escaped)."""
    escaped = json.dumps(text)[1:-1]
    found = 0
    with runtime.db.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(select(table)):
                for cell in row:
                    if isinstance(cell, bytes):
                        continue
                    stored = cell if isinstance(cell, str) else json.dumps(cell, default=str)
                    found += stored.count(text) + (stored.count(escaped) if escaped != text else 0)
    return found


def _create_service(runtime: Runtime) -> None:
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


def test_a_service_spec_is_stored_once_for_the_service_its_instances_and_deployments(
    runtime: Runtime,
) -> None:
    _create_service(runtime)
    assert _work_off(runtime) == 3
    assert _copies(runtime, SERVICE_SPEC) == 1
    assert _copies(runtime, ENV_SPEC) == 1
    with runtime.db.session() as session:
        service = session.scalars(select(Service)).one()
        keys = {service.spec_key}
        keys |= {row.spec_key for row in session.scalars(select(ServiceInstance))}
        keys |= {row.spec_key for row in session.scalars(select(ServicePipeline))}
        keys |= {
            row.target_spec_key
            for row in session.scalars(select(Deployment).where(Deployment.service_name == "web"))
        }
    assert len(keys) == 1

    # The operations answer with the whole text, as before.
    instance = _call(
        runtime,
        instance_operations.get_service_instance,
        "GetServiceInstance",
        {"serviceName": "web", "name": "one"},
    )["serviceInstance"]
    assert instance["spec"] == SERVICE_SPEC
    assert (
        _call(runtime, service_operations.get_service, "GetService", {"name": "web"})["service"][
            "spec"
        ]
        == SERVICE_SPEC
    )
    environment = _call(
        runtime, environment_operations.get_environment, "GetEnvironment", {"name": "dev"}
    )["environment"]
    assert environment["spec"] == ENV_SPEC
    deployment = _call(
        runtime,
        deployment_operations.get_deployment,
        "GetDeployment",
        {"id": instance["lastAttemptedDeploymentId"]},
    )["deployment"]
    assert deployment["targetState"]["serviceInstance"]["spec"] == SERVICE_SPEC


def test_an_update_keeps_both_texts_once_and_the_deployment_keeps_its_initial_state(
    runtime: Runtime,
) -> None:
    _create_service(runtime)
    _work_off(runtime)
    update = SERVICE_SPEC.replace("      port: 8080\n", "      port: 9090\n")
    _call(
        runtime,
        instance_operations.update_service_instance,
        "UpdateServiceInstance",
        {"serviceName": "web", "name": "one", "deploymentType": "CURRENT_VERSION", "spec": update},
    )
    assert _work_off(runtime) == 1
    assert _copies(runtime, SERVICE_SPEC) == 1
    with runtime.db.session() as session:
        attempted = session.scalars(
            select(ServiceInstance.last_attempted_deployment_id).where(
                ServiceInstance.name == "one"
            )
        ).one()
    deployment = _call(
        runtime, deployment_operations.get_deployment, "GetDeployment", {"id": attempted}
    )["deployment"]
    assert deployment["initialState"]["serviceInstance"]["spec"] == SERVICE_SPEC
    assert "port: 9090" in deployment["targetState"]["serviceInstance"]["spec"]


def test_a_text_nothing_names_any_more_is_removed(runtime: Runtime) -> None:
    _create_service(runtime)
    _work_off(runtime)
    with runtime.db.session(write=True) as session:
        session.execute(delete(Deployment).where(Deployment.service_name == "web"))
        for model in (ServiceInstance, ServicePipeline, Service):
            for row in session.scalars(select(model)):
                session.delete(row)
    with runtime.db.session() as session:
        texts = set(session.scalars(select(SpecText.text)))
    assert SERVICE_SPEC not in texts
    assert ENV_SPEC in texts


def test_get_service_instance_reads_the_instance_and_its_spec_in_one_statement(
    runtime: Runtime,
) -> None:
    _create_service(runtime)
    _work_off(runtime)
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(runtime.db.engine, "before_cursor_execute", count)
    try:
        instance = _call(
            runtime,
            instance_operations.get_service_instance,
            "GetServiceInstance",
            {"serviceName": "web", "name": "one"},
        )["serviceInstance"]
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", count)
    assert instance["spec"] == SERVICE_SPEC
    reads = [s for s in statements if is_operation_read(s)]
    assert len(reads) == 1, reads


def test_setting_the_spec_a_row_already_names_writes_nothing(runtime: Runtime) -> None:
    _create_service(runtime)
    _work_off(runtime)
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    with runtime.db.session(write=True) as session:
        instance = session.scalars(select(ServiceInstance).where(ServiceInstance.name == "one"))
        row = instance.one()
        event.listen(runtime.db.engine, "before_cursor_execute", count)
        try:
            row.spec = SERVICE_SPEC  # what it holds already, as a deployment's outcome sets it
            session.flush()
        finally:
            event.remove(runtime.db.engine, "before_cursor_execute", count)
        assert row.spec == SERVICE_SPEC
    assert statements == []
    assert _copies(runtime, SERVICE_SPEC) == 1


def test_a_text_read_once_is_not_read_from_the_database_again_by_another_session(
    runtime: Runtime,
) -> None:
    _create_service(runtime)
    _work_off(runtime)
    with runtime.db.session() as session:
        first = session.scalars(select(ServiceInstance).where(ServiceInstance.name == "one")).one()
        assert first.spec == SERVICE_SPEC
    with statements_run(runtime.db.engine) as statements, runtime.db.session() as session:
        again = session.scalars(select(ServiceInstance).where(ServiceInstance.name == "one")).one()
        assert again.spec == SERVICE_SPEC
    assert not [s for s in statements if "spec_texts" in s], statements


def test_the_text_cache_drops_the_least_recently_used_texts_beyond_its_bound() -> None:
    cache = spec_texts._TextCache(max_chars=10)
    cache.put("a", "aaaa")
    cache.put("b", "bbbb")
    assert cache.get("a") == "aaaa"  # now the most recently used
    cache.put("c", "cccc")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("aaaa", None, "cccc")
    cache.put("huge", "x" * 11)  # larger than the whole cache: not kept, nothing dropped
    assert (cache.get("huge"), cache.get("a"), cache.get("c")) == (None, "aaaa", "cccc")
