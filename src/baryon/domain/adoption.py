"""Adopted stacks: CloudFormation stacks a resource keeps although Baryon did not create them.

A resource imported from Proton already runs in a stack named by Proton
(``AWSProton-fargate-env-pro-cloudformation--MPDTYJAPBFYGPYF``). Recreating it under the name
Baryon derives would replace production infrastructure, so the resource adopts that stack:
the engine hands its name to the CloudFormation provisioner, and every operation (deploy as
an update, destroy, status, cancel, continuing a rollback) targets it.

An adoption is keyed by the resource's ARN as its deployments name it (Deployment.target_arn:
Arns.environment, service_instance, service_pipeline, component), so it may be recorded before
the resource's first deployment is prepared (an import records it with the resource, in one
transaction). It goes when the resource is deleted (domain.deployments.forget_resource).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from baryon.domain.errors import Conflict, InvalidInput
from baryon.store.tables import AdoptedStackRow

# CloudFormation's own limits: a stack name is [A-Za-z][-A-Za-z0-9]* of at most 128
# characters; a stack id is the stack's ARN, whose last part is a generated id.
STACK_NAME_MAX = 128
ARN_MAX = 1024
_STACK_NAME = re.compile(r"[A-Za-z][-A-Za-z0-9]{0,127}")
_STACK_ID = re.compile(
    r"arn:(?P<partition>aws[a-z-]{0,20}):cloudformation:(?P<region>[a-z0-9-]{1,32}):"
    r"(?P<account>\d{12}):stack/(?P<name>[A-Za-z][-A-Za-z0-9]{0,127})/[-A-Za-z0-9]{1,128}"
)
_RESOURCE_ARN = re.compile(r"arn:aws[a-z-]{0,20}:proton:[a-z0-9-]{0,32}:\d{12}:[^\s]{1,960}")


class AdoptedEngine(StrEnum):
    """What provisions an adopted resource; CloudFormation only, as Proton's own stacks are."""

    CLOUDFORMATION = "cloudformation"


class AdoptionSource(StrEnum):
    """Where an adoption came from."""

    PROTON_IMPORT = "proton-import"  # `baryon import` of what Proton left behind


@dataclass(frozen=True)
class AdoptedStack:
    resource_arn: str
    engine: AdoptedEngine
    stack_name: str
    stack_id: str
    source: AdoptionSource
    adopted_at: datetime


def adopt_stack(
    session: Session,
    resource_arn: str,
    stack_name: str,
    stack_id: str,
    now: datetime,
    source: AdoptionSource = AdoptionSource.PROTON_IMPORT,
) -> AdoptedStack:
    """Records that the resource keeps the stack. Adopting the same stack again changes
    nothing (an interrupted import runs again); another stack for the resource, or a stack
    another resource adopted, is a Conflict: two resources deploying one stack would undo
    each other, and moving a resource to another stack would orphan the first."""
    _check(resource_arn, stack_name, stack_id)
    source = AdoptionSource(source)
    current = _row(session, resource_arn)
    if current is not None:
        if (current.stack_id, current.stack_name) == (stack_id, stack_name):
            return _view(current)
        raise Conflict(
            f"The resource '{resource_arn}' already keeps the stack '{current.stack_name}' "
            f"({current.stack_id}); it cannot adopt '{stack_name}' ({stack_id}) as well."
        )
    holder = _holder(session, stack_name, stack_id)
    if holder is not None:
        raise Conflict(
            f"The stack '{stack_name}' ({stack_id}) is already adopted by '{holder.resource_arn}'."
        )
    row = AdoptedStackRow(
        resource_arn=resource_arn,
        engine=AdoptedEngine.CLOUDFORMATION,
        stack_name=stack_name,
        stack_id=stack_id,
        source=source,
        adopted_at=now,
    )
    session.add(row)
    session.flush()
    return _view(row)


def adopted_stack(session: Session, resource_arn: str) -> AdoptedStack | None:
    row = _row(session, resource_arn)
    return None if row is None else _view(row)


def forget(session: Session, resource_arn: str) -> bool:
    """Drops the resource's adoption (the stack itself is not touched); True if there was one."""
    removed = session.execute(
        delete(AdoptedStackRow).where(AdoptedStackRow.resource_arn == resource_arn)
    )
    return bool(getattr(removed, "rowcount", 0))


def _check(resource_arn: str, stack_name: str, stack_id: str) -> None:
    if len(resource_arn) > ARN_MAX or not _RESOURCE_ARN.fullmatch(resource_arn):
        raise InvalidInput.at(
            ("resourceArn",), f"'{resource_arn[:200]}' is not the ARN of a Proton resource."
        )
    if len(stack_name) > STACK_NAME_MAX or not _STACK_NAME.fullmatch(stack_name):
        raise InvalidInput.at(
            ("stackName",),
            f"'{stack_name[:200]}' is not a CloudFormation stack name "
            f"([A-Za-z][-A-Za-z0-9]*, at most {STACK_NAME_MAX} characters).",
        )
    found = _STACK_ID.fullmatch(stack_id) if len(stack_id) <= ARN_MAX else None
    if found is None:
        raise InvalidInput.at(
            ("stackId",),
            f"'{stack_id[:200]}' is not a CloudFormation stack id "
            "(arn:aws:cloudformation:<region>:<account>:stack/<name>/<id>).",
        )
    if found["name"] != stack_name:
        raise InvalidInput.at(
            ("stackId",), f"the stack id '{stack_id}' names another stack than '{stack_name}'."
        )


def _place(stack_id: str) -> tuple[str, str, str]:
    """Where a stack lives: (partition, region, account); names are unique only there."""
    found = _STACK_ID.fullmatch(stack_id)
    if found is None:  # a row written by hand; only its exact id can clash
        return (stack_id, "", "")
    return (found["partition"], found["region"], found["account"])


def _holder(session: Session, stack_name: str, stack_id: str) -> AdoptedStackRow | None:
    """The adoption of the same stack: the same id, or (a stack deleted and made again under
    its name) the same name in the same account and region, which is what operations use."""
    place = _place(stack_id)
    rows = session.scalars(
        select(AdoptedStackRow).where(
            (AdoptedStackRow.stack_id == stack_id) | (AdoptedStackRow.stack_name == stack_name)
        )
    )
    for row in rows:
        if row.stack_id == stack_id or _place(row.stack_id) == place:
            return row
    return None


def _row(session: Session, resource_arn: str) -> AdoptedStackRow | None:
    return session.scalar(_ADOPTED, {"resource_arn": resource_arn})


# Built once (building a select and its cache key costs more than running it: issue 17).
_ADOPTED = select(AdoptedStackRow).where(AdoptedStackRow.resource_arn == bindparam("resource_arn"))


def _view(row: AdoptedStackRow) -> AdoptedStack:
    return AdoptedStack(
        resource_arn=row.resource_arn,
        engine=AdoptedEngine(row.engine),
        stack_name=row.stack_name,
        stack_id=row.stack_id,
        source=AdoptionSource(row.source),
        adopted_at=row.adopted_at,
    )
