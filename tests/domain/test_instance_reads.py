"""GetServiceInstance and ListServiceInstances answer with one statement each (issue 17: a
second round trip per read cost a tenth of the API's throughput on PostgreSQL); a listing of
an unknown service still answers NotFound.

Requests run through the API's operation functions, in process, on a private SQLite database
(tests/domain/test_spec_parsing.py's helpers).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from baryon.domain import services
from baryon.domain.errors import NotFound
from baryon.operations import service_instances as instance_operations
from baryon.operations import views
from baryon.runtime import Runtime
from tests.domain.test_spec_parsing import _call, _work_off
from tests.domain.test_spec_storage import _create_service
from tests.support.statements import is_operation_read


@contextmanager
def _reads(runtime: Runtime) -> Iterator[list[str]]:
    """The SELECT statements the operation sent to the database inside the block (the
    authorization's own read of the policy generation is counted apart, in
    tests/auth/test_policies.py)."""
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if is_operation_read(statement):
            statements.append(statement)

    event.listen(runtime.db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", record)


@pytest.mark.parametrize("service_name", [None, "web"], ids=["all", "one-service"])
def test_list_service_instances_reads_one_statement(
    runtime: Runtime, service_name: str | None
) -> None:
    _create_service(runtime)
    _work_off(runtime)
    request = {"serviceName": service_name} if service_name else {}
    with _reads(runtime) as statements:
        listed = _call(
            runtime,
            instance_operations.list_service_instances,
            "ListServiceInstances",
            request,
        )["serviceInstances"]
    assert [item["name"] for item in listed] == ["one", "two"]
    assert len(statements) == 1, statements


def test_list_service_instances_of_an_unknown_service_is_not_found(runtime: Runtime) -> None:
    _create_service(runtime)
    _work_off(runtime)
    with pytest.raises(NotFound, match="nowhere"):
        _call(
            runtime,
            instance_operations.list_service_instances,
            "ListServiceInstances",
            {"serviceName": "nowhere"},
        )


def test_a_service_without_instances_lists_none(runtime: Runtime) -> None:
    _create_service(runtime)
    _work_off(runtime)
    listed = _call(
        runtime,
        instance_operations.list_service_instances,
        "ListServiceInstances",
        {"serviceName": "web", "filters": [{"key": "name", "value": "absent"}]},
    )
    assert listed["serviceInstances"] == []


def test_get_service_instance_reads_one_statement_and_answers_the_mapped_rows_view(
    runtime: Runtime,
) -> None:
    _create_service(runtime)
    _work_off(runtime)
    with _reads(runtime) as statements:
        got = _call(
            runtime,
            instance_operations.get_service_instance,
            "GetServiceInstance",
            {"serviceName": "web", "name": "one"},
        )["serviceInstance"]
    assert len(statements) == 1, statements
    with runtime.db.session() as session:
        mapped = services.find_instance(session, "web", "one")
        expected = views.service_instance(runtime.arns, mapped)
    assert got == expected
    assert got["spec"] == expected["spec"] is not None


def test_get_service_instance_of_an_unknown_instance_is_not_found(runtime: Runtime) -> None:
    _create_service(runtime)
    _work_off(runtime)
    with pytest.raises(NotFound):
        _call(
            runtime,
            instance_operations.get_service_instance,
            "GetServiceInstance",
            {"serviceName": "web", "name": "absent"},
        )
