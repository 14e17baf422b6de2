"""Domain errors: Proton's error shapes on the API, a field path for the portal.

The domain raises its own errors; the front door answers each kind with the Proton error
clients expect (same status, same message), and the portal finds the field an error belongs to
from its path, never from its text.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from baryon.api.front_door import _error_response, proton_error
from baryon.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    QuotaExceeded,
)
from baryon.web import environments as environment_pages
from baryon.web import services as service_pages

PROTON_SHAPES = [
    (InvalidInput, "ValidationException", 400),
    (NotFound, "ResourceNotFoundException", 400),
    (Conflict, "ConflictException", 400),
    (QuotaExceeded, "ServiceQuotaExceededException", 400),
    (Forbidden, "AccessDeniedException", 400),
]


@pytest.mark.parametrize(("kind", "code", "status"), PROTON_SHAPES)
def test_a_domain_error_is_answered_with_its_proton_error(
    kind: type[DomainError], code: str, status: int
) -> None:
    error = kind("The environment 'dev' already exists.", field=("name",))
    response = _error_response(proton_error(error), "request-1")
    assert response.status_code == status
    assert response.headers["x-amzn-ErrorType"] == code
    assert json.loads(bytes(response.body)) == {
        "__type": code,
        "message": "The environment 'dev' already exists.",
    }


def test_every_kind_of_domain_error_has_a_proton_error() -> None:
    kinds = set(DomainError.__subclasses__())
    assert kinds == {kind for kind, _, _ in PROTON_SHAPES}


def test_an_error_at_a_field_names_it_in_its_message_and_keeps_the_reason_apart() -> None:
    error = InvalidInput.at(("instances", 1, "environment"), "the environment 'x' does not exist.")
    assert error.message == "instances[1].environment: the environment 'x' does not exist."
    assert error.field == ("instances", 1, "environment")
    assert error.reason == "the environment 'x' does not exist."
    plain = NotFound("The service 'web' was not found.")
    assert (plain.field, plain.reason) == (None, plain.message)


def _instance_forms(count: int) -> list[tuple[service_pages.InstanceForm, dict[str, Any]]]:
    return [(service_pages.InstanceForm(index), {}) for index in range(count)]


def test_the_portal_places_an_error_by_its_path_whatever_its_message_says() -> None:
    instances = _instance_forms(3)
    field_errors: dict[str, str] = {}
    errors: list[str] = []
    # The text names another instance and another field: only the path counts.
    error = InvalidInput(
        "instances[0].name: misleading text", field=("instances", 1, "environment"), reason="why"
    )
    service_pages.place_error(error, False, instances, field_errors, errors)
    assert [entry.errors for entry, _ in instances] == [{}, {"environment": "why"}, {}]
    assert (field_errors, errors) == ({}, [])


def test_an_error_that_names_no_field_of_the_form_goes_above_it() -> None:
    instances = _instance_forms(1)
    field_errors: dict[str, str] = {}
    errors: list[str] = []
    # Text shaped like a field's message, but no path: it is not placed by its text.
    error = InvalidInput("instances[0].environment: shaped like a field, but no path")
    service_pages.place_error(error, False, instances, field_errors, errors)
    assert instances[0][0].errors == {}
    assert errors == [error.message]


def test_a_taken_name_is_shown_beside_the_name_by_its_path() -> None:
    field_errors: dict[str, str] = {}
    errors: list[str] = []
    taken = Conflict("words that say nothing of names", field=("name",))
    service_pages.place_error(taken, True, [], field_errors, errors)
    assert field_errors == {"name": "is already taken by another service"}
    busy = Conflict("The service 'web' already exists and is busy.")  # no path: not the name
    service_pages.place_error(busy, True, [], field_errors, errors)
    assert errors == [busy.message]


def test_the_environment_form_places_a_member_error_beside_its_field() -> None:
    field_errors: dict[str, str] = {}
    errors: list[str] = []
    error = InvalidInput.at(("protonServiceRoleArn",), "needs the role it deploys as.")
    environment_pages.place_error(error, True, field_errors, errors)
    assert field_errors == {"role": "needs the role it deploys as."}
    spec_error = InvalidInput("spec: must be a mapping.", field=("spec",))
    environment_pages.place_error(spec_error, True, field_errors, errors)
    assert field_errors["spec"] == "spec: must be a mapping."
    taken = Conflict("The environment 'dev' already exists.", field=("name",))
    environment_pages.place_error(taken, False, field_errors, errors)
    assert field_errors["name"] == "is already taken by another environment"
    assert errors == []
