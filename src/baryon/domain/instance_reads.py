"""The API's hottest reads, GetServiceInstance's row and ListServiceInstances' page, as
SQLAlchemy Core statements built once, on a plain connection.

An ORM load of the same row built a mapped object (identity map, instance state, the session's
execute machinery) and the statement again on every call: 45% of a GetServiceInstance's
in-process CPU went to find_instance. Here the statement is built at import with bound
parameters (its compiled form is cached by SQLAlchemy under one key) and each row is a plain
Row carrying exactly the columns the view reads (operations/views.py), the spec's text
included by an outer join, so a Get is one statement and one round trip.

Other reads of instances (changes, a deployment's work) load mapped rows: they need locks,
relationships and the unit of work.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, select

from baryon.domain.errors import NotFound
from baryon.store.tables import Service, ServiceInstance, SpecText

SI = ServiceInstance

# What a service instance summary shows (views.service_instance_summary), and every key a page
# may sort or resume by.
SUMMARY_COLUMNS = (
    SI.id,
    SI.name,
    SI.service_name,
    SI.environment_name,
    SI.template_name,
    SI.template_major,
    SI.template_minor,
    SI.deployment_status,
    SI.deployment_status_message,
    SI.last_attempted_deployment_id,
    SI.last_succeeded_deployment_id,
    SI.last_deployment_attempted_at,
    SI.last_deployment_succeeded_at,
    SI.created_at,
)

_INSTANCE = (
    select(
        *SUMMARY_COLUMNS,
        SI.last_client_request_token,
        SI.spec_key,
        SpecText.text.label("spec"),
    )
    .outerjoin(SpecText, SpecText.key == SI.spec_key)
    .where(SI.service_name == bindparam("service_name"), SI.name == bindparam("name"))
    .limit(1)
)
_SERVICE = select(Service.id).where(Service.name == bindparam("name")).limit(1)


def instance(connection: Connection, service_name: str, name: str) -> Row[Any]:
    """The instance's view columns and its spec's text (``spec``), in one statement."""
    row = connection.execute(_INSTANCE, {"service_name": service_name, "name": name}).first()
    if row is None:
        raise NotFound(f"The service instance '{name}' of service '{service_name}' was not found.")
    if row.spec_key is not None and row.spec is None:
        # As the mapped row's spec would (store/spec_texts.py): a key without its text is a
        # damaged store, not an instance without a spec.
        raise LookupError(f"spec text {row.spec_key} is missing")
    return row


def summaries() -> Select[Any]:
    """The listing's statement, to which the caller adds its filters and page."""
    return select(*SUMMARY_COLUMNS)


def require_service(connection: Connection, name: str) -> None:
    """Raises NotFound when no service has this name (what tells an unknown service from one
    without instances when a page comes back empty)."""
    if connection.execute(_SERVICE, {"name": name}).first() is None:
        raise NotFound(f"The service '{name}' was not found.")
