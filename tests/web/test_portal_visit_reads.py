"""A portal visit reads who its visitor is and the policy generation in one statement (issue
17: as the API reads them with the caller's key), however many actions its page asks about;
a role revoked between two visits holds from the next one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import event

from baryon.auth import identities
from baryon.auth.identities import UserKind
from baryon.auth.roles import BuiltinRole
from baryon.operations.portal_passwords import hash_password
from baryon.runtime import Runtime
from tests.web.conftest import PASSWORD, Portal

pytestmark = pytest.mark.parametrize("runtime", ["sqlite"], indirect=True)


@contextmanager
def _statements(runtime: Runtime) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        seen.append(statement)

    event.listen(runtime.identity_db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(runtime.identity_db.engine, "before_cursor_execute", record)


def test_a_visit_reads_its_visitor_with_the_policy_generation_and_a_revoked_role_holds_next(
    portal: Portal,
) -> None:
    with portal.runtime.identity_db.session(write=True) as session:
        identities.create_user(
            session,
            "pat",
            UserKind.PERSON,
            datetime.now(UTC),
            password_hash=hash_password(PASSWORD),
            roles=(BuiltinRole.PLATFORM.value,),
        )
    assert portal.sign_in("pat", PASSWORD).status_code == 303

    with _statements(portal.runtime) as seen:
        catalog = portal.client.get("/portal/templates")
    assert catalog.status_code == 200
    assert ">Create environment</a>" in catalog.text
    generation_reads = [s for s in seen if "policy_generation" in s]
    assert len(generation_reads) == 1, seen
    assert "team_members" in generation_reads[0]

    with portal.runtime.identity_db.session(write=True) as session:
        identities.revoke_user_role(session, "pat", BuiltinRole.PLATFORM.value)
        identities.grant_user_role(session, "pat", BuiltinRole.VIEWER.value)
    catalog = portal.client.get("/portal/templates")
    assert catalog.status_code == 200
    assert ">Create environment</a>" not in catalog.text
