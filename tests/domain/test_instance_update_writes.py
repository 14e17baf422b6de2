"""What an UpdateServiceInstance writes, counted on a private SQLite store (issue 17: a fleet
upgrade pays each statement once per instance): the instance row once, its client token
included."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session

from baryon.operations import service_instances as instance_operations
from baryon.runtime import Runtime
from baryon.store.tables import ServiceInstance
from tests.domain.conftest import runtime  # noqa: F401 (the fixture)
from tests.domain.test_spec_parsing import _call, _work_off
from tests.domain.test_spec_storage import _create_service
from tests.support.statements import statements_run


def test_an_update_with_a_client_token_writes_the_instance_row_once_and_keeps_the_token(
    runtime: Runtime,  # noqa: F811
) -> None:
    _create_service(runtime)
    _work_off(runtime)
    with statements_run(runtime.db.engine) as statements:
        updated = _call(
            runtime,
            instance_operations.update_service_instance,
            "UpdateServiceInstance",
            {
                "serviceName": "web",
                "name": "one",
                "deploymentType": "CURRENT_VERSION",
                "clientToken": "token-1",
            },
        )["serviceInstance"]
    writes = [s for s in statements if s.startswith(f"UPDATE {ServiceInstance.__tablename__} ")]
    assert len(writes) == 1, writes
    assert updated["lastClientRequestToken"] == "token-1"
    assert updated["deploymentStatus"] == "IN_PROGRESS"
    fetched = _call(
        runtime,
        instance_operations.get_service_instance,
        "GetServiceInstance",
        {"serviceName": "web", "name": "one"},
    )["serviceInstance"]
    assert fetched["lastClientRequestToken"] == "token-1"


def test_an_update_flushes_its_writes_once_at_commit(runtime: Runtime) -> None:  # noqa: F811
    """The reads after the first write (approval rules, the service's sync config) see nothing
    it wrote, so they do not flush it: every write goes out in the commit's one flush."""
    _create_service(runtime)
    _work_off(runtime)
    flushes: list[int] = []

    def flushed(session: Session, _context: object) -> None:
        flushes.append(len(session.new) + len(session.dirty))

    event.listen(Session, "after_flush", flushed)
    try:
        _call(
            runtime,
            instance_operations.update_service_instance,
            "UpdateServiceInstance",
            {"serviceName": "web", "name": "one", "deploymentType": "CURRENT_VERSION"},
        )
    finally:
        event.remove(Session, "after_flush", flushed)
    assert len(flushes) == 1, flushes
