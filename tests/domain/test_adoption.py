"""Adopted stacks' rules: adopting is idempotent, a resource keeps one stack and a stack one
resource, what is adopted is checked, and the adoption goes with the resource."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from baryon.domain import adoption, deployments
from baryon.domain.adoption import AdoptedEngine, AdoptionSource
from baryon.domain.errors import Conflict, InvalidInput
from baryon.runtime import Runtime
from baryon.store.tables import AdoptedStackRow

ENV = "arn:aws:proton:us-east-1:123456789012:environment/prod"
OTHER_ENV = "arn:aws:proton:us-east-1:123456789012:environment/staging"
NAME = "AWSProton-prod-cloudformation--QYWPQLSESXEMRBY"
STACK_ID = f"arn:aws:cloudformation:us-east-1:123456789012:stack/{NAME}/5e3f0a10-aaaa-11ef-9d6b"
NOW = datetime(2026, 10, 8, 9, 30, tzinfo=UTC)


def _stack_id(name: str = NAME, place: str = "us-east-1:123456789012", uid: str = "1") -> str:
    return f"arn:aws:cloudformation:{place}:stack/{name}/{uid}"


def _rows(runtime: Runtime) -> int:
    with runtime.db.session() as session:
        return session.scalar(select(func.count()).select_from(AdoptedStackRow)) or 0


def test_an_adopted_stack_is_read_back_as_it_was_adopted(runtime: Runtime) -> None:
    with runtime.db.session(write=True) as session:
        made = adoption.adopt_stack(session, ENV, NAME, STACK_ID, NOW)
    with runtime.db.session() as session:
        read = adoption.adopted_stack(session, ENV)
        assert adoption.adopted_stack(session, OTHER_ENV) is None
    assert read == made
    assert read is not None
    assert (read.resource_arn, read.stack_name, read.stack_id) == (ENV, NAME, STACK_ID)
    assert (read.engine, read.source, read.adopted_at) == (
        AdoptedEngine.CLOUDFORMATION,
        AdoptionSource.PROTON_IMPORT,
        NOW,
    )


def test_adopting_the_same_stack_again_changes_nothing(runtime: Runtime) -> None:
    with runtime.db.session(write=True) as session:
        adoption.adopt_stack(session, ENV, NAME, STACK_ID, NOW)
    with runtime.db.session(write=True) as session:
        again = adoption.adopt_stack(session, ENV, NAME, STACK_ID, NOW + timedelta(hours=1))
    assert again.adopted_at == NOW  # the first adoption stands, untouched
    assert _rows(runtime) == 1


def test_a_resource_that_keeps_a_stack_cannot_adopt_another(runtime: Runtime) -> None:
    with runtime.db.session(write=True) as session:
        adoption.adopt_stack(session, ENV, NAME, STACK_ID, NOW)
    other = "AWSProton-prod-cloudformation--ZZZZZZZZZZZZZZZ"
    with runtime.db.session(write=True) as session, pytest.raises(Conflict) as error:
        adoption.adopt_stack(session, ENV, other, _stack_id(other), NOW)
    assert NAME in error.value.message and other in error.value.message
    with runtime.db.session() as session:
        kept = adoption.adopted_stack(session, ENV)
    assert kept is not None and kept.stack_id == STACK_ID


def test_a_stack_made_again_under_the_same_name_is_another_stack_for_the_resource(
    runtime: Runtime,
) -> None:
    with runtime.db.session(write=True) as session:
        adoption.adopt_stack(session, ENV, NAME, STACK_ID, NOW)
    with runtime.db.session(write=True) as session, pytest.raises(Conflict):
        adoption.adopt_stack(session, ENV, NAME, _stack_id(uid="recreated"), NOW)


def test_a_stack_adopted_by_one_resource_cannot_be_adopted_by_another(runtime: Runtime) -> None:
    with runtime.db.session(write=True) as session:
        adoption.adopt_stack(session, ENV, NAME, STACK_ID, NOW)
    with runtime.db.session(write=True) as session, pytest.raises(Conflict) as error:
        adoption.adopt_stack(session, OTHER_ENV, NAME, STACK_ID, NOW)
    assert ENV in error.value.message
    # Operations find the stack by name: a new stack under that name in the same account and
    # region is the one the first resource deploys, so it is taken too.
    with runtime.db.session(write=True) as session, pytest.raises(Conflict):
        adoption.adopt_stack(session, OTHER_ENV, NAME, _stack_id(uid="recreated"), NOW)
    assert _rows(runtime) == 1


def test_the_same_stack_name_in_another_account_or_region_is_another_stack(
    runtime: Runtime,
) -> None:
    with runtime.db.session(write=True) as session:
        adoption.adopt_stack(session, ENV, NAME, STACK_ID, NOW)
        adoption.adopt_stack(
            session, OTHER_ENV, NAME, _stack_id(place="us-east-1:210987654321"), NOW
        )
        third = "arn:aws:proton:eu-west-1:123456789012:environment/prod"
        adoption.adopt_stack(session, third, NAME, _stack_id(place="eu-west-1:123456789012"), NOW)
    assert _rows(runtime) == 3


@pytest.mark.parametrize(
    ("resource_arn", "stack_name", "stack_id", "field"),
    [
        ("environment/prod", NAME, STACK_ID, "resourceArn"),
        ("arn:aws:s3:::bucket", NAME, STACK_ID, "resourceArn"),
        (ENV + "/" + "x" * 1100, NAME, STACK_ID, "resourceArn"),
        (ENV, "1-starts-with-a-digit", _stack_id("1-starts-with-a-digit"), "stackName"),
        (ENV, "has_underscore", _stack_id("has_underscore"), "stackName"),
        (ENV, "A" * 129, _stack_id("A" * 129), "stackName"),
        (ENV, NAME, NAME, "stackId"),
        (ENV, NAME, f"arn:aws:s3:us-east-1:123456789012:stack/{NAME}/1", "stackId"),
        (ENV, NAME, f"arn:aws:cloudformation:us-east-1:1234:stack/{NAME}/1", "stackId"),
        (ENV, NAME, _stack_id("AWSProton-another-stack"), "stackId"),
        (ENV, NAME, _stack_id(uid="x" * 2000), "stackId"),
    ],
)
def test_what_is_not_a_proton_resource_and_a_stack_is_refused_naming_the_field(
    runtime: Runtime, resource_arn: str, stack_name: str, stack_id: str, field: str
) -> None:
    with runtime.db.session(write=True) as session, pytest.raises(InvalidInput) as error:
        adoption.adopt_stack(session, resource_arn, stack_name, stack_id, NOW)
    assert error.value.field == (field,)
    assert len(error.value.message) < 600  # a hostile value is not echoed whole
    assert _rows(runtime) == 0


def test_forgetting_drops_only_that_resources_adoption(runtime: Runtime) -> None:
    other = "AWSProton-staging-cloudformation--ABCDEFGHIJKLMNO"
    with runtime.db.session(write=True) as session:
        adoption.adopt_stack(session, ENV, NAME, STACK_ID, NOW)
        adoption.adopt_stack(session, OTHER_ENV, other, _stack_id(other), NOW)
    with runtime.db.session(write=True) as session:
        assert adoption.forget(session, ENV) is True
        assert adoption.forget(session, ENV) is False
    with runtime.db.session() as session:
        assert adoption.adopted_stack(session, ENV) is None
        assert adoption.adopted_stack(session, OTHER_ENV) is not None
    # Once forgotten, the stack may be adopted again (an import run after an undo).
    with runtime.db.session(write=True) as session:
        adoption.adopt_stack(session, ENV, NAME, STACK_ID, NOW)


def test_a_deleted_resource_takes_its_adoption_with_it(runtime: Runtime) -> None:
    with runtime.db.session(write=True) as session:
        adoption.adopt_stack(session, ENV, NAME, STACK_ID, NOW)
    with runtime.db.session(write=True) as session:
        deployments.forget_resource(session, ENV)
    with runtime.db.session() as session:
        assert adoption.adopted_stack(session, ENV) is None
