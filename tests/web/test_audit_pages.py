"""The audit trail in the portal: a change made there is recorded as the signed-in user, through
the portal, with its spec difference, and the page filters and pages the records."""

from __future__ import annotations

from typing import Any

import pytest

from baryon.api import front_door
from baryon.operations import audit_records, audit_trail, authorization, in_process
from baryon.operations.errors import Forbidden
from baryon.service_models.baryon import AuditDoor, AuditResult
from baryon.store import audit_records as chain
from tests.web.conftest import ROLE, USER, Portal

ENV_URL = "/portal/new/environment?template=network&version=1.0"


def _records(portal: Portal) -> list[dict]:
    found = chain.records(portal.runtime.db, chain.AuditFilters())
    return [dict(audit_records.record_view(record)) for record in found]


def test_a_change_in_the_portal_is_recorded_as_the_user_with_its_spec_diff(
    signed_in: Portal,
) -> None:
    form = {
        "mode": "form",
        "name": "dev",
        "role": ROLE,
        "input-vpc_cidr": "10.0.0.0/16",
        "input-size": "large",
    }
    assert signed_in.post(ENV_URL, form).status_code == 303
    [record] = [r for r in _records(signed_in) if r["operation"] == "CreateEnvironment"]
    assert record["principal"] == f"user/{USER}"
    assert record["door"] == AuditDoor.PORTAL
    assert record["result"] == AuditResult.SUCCEEDED
    assert record["resources"] == [signed_in.runtime.arns.environment("dev")]
    assert "+  size: large" in record["specDiff"]
    page = signed_in.client.get("/portal/audit")
    assert page.status_code == 200
    assert "CreateEnvironment" in page.text and f"user/{USER}" in page.text
    assert "+  size: large" in page.text  # the spec diff, shown
    assert chain.verify(signed_in.runtime.db).intact


def test_a_failed_change_is_recorded_with_its_error(signed_in: Portal) -> None:
    form = {
        "mode": "form",
        "name": "dev",
        "role": ROLE,
        "input-vpc_cidr": "10.0.0.0/16",
        "input-size": "large",
    }
    signed_in.post(ENV_URL, form)
    signed_in.post(ENV_URL, form)  # the name is taken now
    results = [r["result"] for r in _records(signed_in) if r["operation"] == "CreateEnvironment"]
    assert AuditResult.SUCCEEDED in results
    # The portal checks the name before it calls the operation, or the operation refuses it.
    assert all(result in (AuditResult.SUCCEEDED, AuditResult.FAILED) for result in results)


def test_the_page_filters_and_pages_server_side(signed_in: Portal) -> None:
    context = in_process.context(signed_in.runtime, "portal:robin", "x")
    for number in range(60):
        chain.append(
            signed_in.runtime.db,
            chain.AuditEntry(
                recorded_at=context.now,
                principal="robot/ci" if number % 2 else "user/alice",
                principal_kind="robot" if number % 2 else "user",
                door=AuditDoor.API,
                service="proton",
                operation="UpdateService",
                resources=(signed_in.runtime.arns.service(f"svc-{number}"),),
                region=signed_in.runtime.region,
                request_id=f"r{number}",
                result=AuditResult.SUCCEEDED,
            ),
        )
    first = signed_in.client.get("/portal/audit")
    assert first.text.count("<tr>") == 1 + 50  # the header row and one page
    assert "Older" in first.text
    older = first.text.split('href="')[-1]
    assert older  # the link carries the next page's token
    robots = signed_in.client.get("/portal/audit", params={"principal": "robot/ci"})
    assert "user/alice" not in robots.text.split("<tbody>")[1]
    one = signed_in.client.get("/portal/audit", params={"resource": "svc-7"})
    assert one.text.count("<tr>") == 2
    wrong = signed_in.client.get("/portal/audit", params={"since": "yesterday", "result": "X"})
    assert wrong.status_code == 200
    assert "is not a date or time" in wrong.text and "is not one of the results" in wrong.text


def test_a_denied_call_is_recorded_as_denied_even_a_read(
    signed_in: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    def deny(context: Any, service: str, operation: str, request: Any) -> None:
        if operation in ("ListAuditRecords", "CreateEnvironment"):
            raise Forbidden(f"{context.principal.label} may not {operation}")

    monkeypatch.setattr(authorization, "authorize", deny)
    assert signed_in.client.get("/portal/audit").status_code == 403
    form = {"mode": "form", "name": "dev", "role": ROLE, "input-size": "large"}
    signed_in.post(ENV_URL, {**form, "input-vpc_cidr": "10.0.0.0/16"})
    denied = [r for r in _records(signed_in) if r["result"] == AuditResult.DENIED]
    assert {r["operation"] for r in denied} == {"ListAuditRecords", "CreateEnvironment"}
    assert all(r["principal"] == f"user/{USER}" and r["door"] == AuditDoor.PORTAL for r in denied)
    assert all(r["errorCode"] == "AccessDeniedException" for r in denied)
    assert not any(r["result"] == AuditResult.SUCCEEDED for r in _records(signed_in))


def test_error_codes_are_the_ones_the_api_answers() -> None:
    for kind, api_error in front_door._PROTON_ERRORS.items():
        assert audit_trail.ERROR_CODES[kind] == api_error.__name__
