"""The portal and the API answer the same input with the same error, because both call the
same operation function: the API through its handler registry, the portal in-process with
the signed-in user as the caller.

Each case sends one bad input to the API (a SigV4-signed request to the same in-process app,
as boto3 would send it) and to the portal's form, and compares what comes back: the API's
error code and message with the portal's status and the text it shows beside the field the
error's path names (the field's own words, the message without its location) or, for a spec
written as YAML, beside the spec (the whole message).
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from sqlalchemy import func, select

from baryon.auth.access_keys import create_access_key
from baryon.operations import environments as environment_operations
from baryon.operations import in_process
from baryon.operations import services as service_operations
from baryon.operations import templates as template_operations
from baryon.operations.errors import Conflict, InvalidInput
from baryon.operations.existing_names import ExistingName
from baryon.operations.registry import handler_for
from baryon.service_models import PROTON
from baryon.store.tables import Environment, Service, Template
from tests.web.conftest import ROLE, Portal, finish

ENV_URL = "/portal/new/environment?template=network&version=1.0"
SVC_URL = "/portal/new/service?template=webapp&version=1.0"
TARGET = "AwsProton20200720."


class Api:
    """Proton's API on the portal's own app, signed with a fresh access key."""

    def __init__(self, portal: Portal) -> None:
        key = create_access_key(portal.runtime.db, portal.runtime.box, "same-operation test")
        self.credentials = Credentials(key.access_key_id, key.secret_access_key)
        self.region = portal.runtime.settings.region
        self.client = portal.client

    def call(self, operation: str, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        body = json.dumps(request).encode()
        signed = AWSRequest(
            method="POST",
            url="http://portal.test/",
            data=body,
            headers={
                "X-Amz-Target": TARGET + operation,
                "Content-Type": "application/x-amz-json-1.0",
            },
        )
        SigV4Auth(self.credentials, "proton", self.region).add_auth(signed)
        response = self.client.post("/", content=body, headers=dict(signed.headers))
        return response.status_code, response.json()

    def refused(self, operation: str, request: dict[str, Any]) -> tuple[str, str]:
        """The error code and message the API answers ``request`` with."""
        status, answer = self.call(operation, request)
        assert status >= 400, answer
        return answer["__type"].rpartition("#")[2], answer["message"]


@pytest.fixture
def api(signed_in: Portal) -> Api:
    return Api(signed_in)


def _beside(page: str, field: str) -> str | None:
    """The error the portal shows beside ``field``, unescaped."""
    match = re.search(
        rf'id="{re.escape(field)}-error"><span class="visually-hidden">Error: </span>([^<]*)<',
        page,
    )
    return html.unescape(match.group(1)) if match else None


def _error_page_message(page: str) -> str:
    match = re.search(r'<div class="problem" role="alert">\s*<p>([^<]*)</p>', page)
    assert match, page[:2000]
    return html.unescape(match.group(1))


def _count(portal: Portal, model: type) -> int:
    with portal.runtime.db.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _environment(api: Api, portal: Portal, name: str = "dev") -> None:
    """A deployed environment, made through the API."""
    status, answer = api.call(
        "CreateEnvironment",
        {"name": name, "templateName": "network", "templateMajorVersion": "1",
         "spec": "proton: EnvironmentSpec\nspec:\n  size: small\n",
         "protonServiceRoleArn": ROLE},
    )
    assert status == 200, answer
    assert finish(portal.runtime) >= 1


def test_both_front_doors_hold_the_very_same_operation_functions() -> None:
    # The API dispatches to what its registry holds; the portal calls the module's function.
    for name, function in {
        "CreateEnvironment": environment_operations.create_environment,
        "DeleteEnvironment": environment_operations.delete_environment,
        "CreateService": service_operations.create_service,
        "UpdateService": service_operations.update_service,
        "DeleteService": service_operations.delete_service,
        "GetService": service_operations.get_service,
    }.items():
        assert handler_for(PROTON, name) is function, name


def test_a_spec_value_outside_its_schema(api: Api, signed_in: Portal) -> None:
    spec = "proton: EnvironmentSpec\nspec:\n  size: enormous\n"
    code, message = api.refused(
        "CreateEnvironment",
        {"name": "dev", "templateName": "network", "templateMajorVersion": "1",
         "templateMinorVersion": "0", "spec": spec, "protonServiceRoleArn": ROLE},
    )
    page = signed_in.post(ENV_URL, {"mode": "yaml", "name": "dev", "spec": spec, "role": ROLE})
    assert (code, page.status_code) == ("ValidationException", 400)
    assert _beside(page.text, "spec") == message
    assert "must be one of" in message
    assert _count(signed_in, Environment) == 0


def test_a_spec_that_is_not_a_service_spec(api: Api, signed_in: Portal) -> None:
    _environment(api, signed_in)
    spec = "proton: ServiceSpec\ninstances:\n  - name: a\n    environment: dev\n"
    status, answer = api.call(
        "CreateService",
        {"name": "shop", "templateName": "webapp", "templateMajorVersion": "1", "spec": spec},
    )
    assert status == 200, answer
    wrong = "proton: ServiceSpec\ninstances: 5\n"
    finish(signed_in.runtime)
    code, message = api.refused("UpdateService", {"name": "shop", "spec": wrong})
    page = signed_in.post("/portal/services/shop/edit", {"spec": wrong})
    assert (code, page.status_code) == ("ValidationException", 400)
    assert _beside(page.text, "spec") == message == "spec.instances: must be a list."


def test_an_unknown_template(api: Api, signed_in: Portal) -> None:
    code, message = api.refused(
        "CreateEnvironment",
        {"name": "dev", "templateName": "nowhere", "templateMajorVersion": "1",
         "spec": "proton: EnvironmentSpec\n", "protonServiceRoleArn": ROLE},
    )
    page = signed_in.post(
        "/portal/new/environment?template=nowhere&version=1.0",
        {"mode": "yaml", "name": "dev", "spec": "proton: EnvironmentSpec\n", "role": ROLE},
    )
    assert (code, page.status_code) == ("ResourceNotFoundException", 404)
    assert _error_page_message(page.text) == message
    assert message == "The environment template 'nowhere' was not found."


def test_an_instance_in_an_environment_that_does_not_exist(
    api: Api, signed_in: Portal
) -> None:
    _environment(api, signed_in)
    spec = "proton: ServiceSpec\ninstances:\n  - name: a\n    environment: nowhere\n"
    code, message = api.refused(
        "CreateService",
        {"name": "shop", "templateName": "webapp", "templateMajorVersion": "1",
         "templateMinorVersion": "0", "spec": spec},
    )
    form = {"mode": "form", "instances": "1", "action": "create", "name": "shop",
            "instance-0-name": "a", "instance-0-environment": "nowhere",
            "instance-0-input-port": "80", "instance-0-input-image": "nginx"}
    page = signed_in.post(SVC_URL, form)
    assert (code, page.status_code) == ("ValidationException", 400)
    # Beside the instance's environment, the message without its location.
    reason = _beside(page.text, "instance-0-environment")
    assert message == f"instances[0].environment: {reason}"
    assert reason == "the environment 'nowhere' does not exist."
    # In the YAML editor the spec is one field: the whole message, as the API says it.
    yaml_page = signed_in.post(SVC_URL, {"mode": "yaml", "action": "create", "name": "shop",
                                         "spec": spec})
    assert _beside(yaml_page.text, "spec") == message
    assert _count(signed_in, Service) == 0


def test_a_missing_role(api: Api, signed_in: Portal) -> None:
    code, message = api.refused(
        "CreateEnvironment",
        {"name": "dev", "templateName": "network", "templateMajorVersion": "1",
         "spec": "proton: EnvironmentSpec\n"},
    )
    assert code == "ValidationException" and message.startswith("protonServiceRoleArn: ")
    # The form marks the role required, but the operation refuses the request: the same
    # words, beside the field the error's path names.
    page = signed_in.post(ENV_URL, {"mode": "yaml", "name": "dev",
                                    "spec": "proton: EnvironmentSpec\n"})
    reason = message.removeprefix("protonServiceRoleArn: ")
    assert page.status_code == 400 and _beside(page.text, "role") == reason
    context = in_process.context(signed_in.runtime, "portal:robin", "CreateEnvironment")
    with pytest.raises(InvalidInput) as refused:
        environment_operations.create_environment(
            context,
            {"name": "dev", "templateName": "network", "templateMajorVersion": "1",
             "spec": "proton: EnvironmentSpec\n"},
            existing=ExistingName.REFUSE,
        )
    assert (refused.value.message, refused.value.field) == (message, ("protonServiceRoleArn",))
    assert _count(signed_in, Environment) == 0


def test_a_bad_name(api: Api, signed_in: Portal) -> None:
    # Names are checked by the model's validator at both doors (web/members.py runs the
    # API's own), before any operation; the portal words the broken pattern for people.
    code, message = api.refused(
        "CreateEnvironment",
        {"name": "bad name", "templateName": "network", "templateMajorVersion": "1",
         "spec": "proton: EnvironmentSpec\n", "protonServiceRoleArn": ROLE},
    )
    page = signed_in.post(ENV_URL, {"mode": "yaml", "name": "bad name", "role": ROLE,
                                    "spec": "proton: EnvironmentSpec\n"})
    assert (code, page.status_code) == ("ValidationException", 400)
    assert "'name'" in message and _beside(page.text, "name")
    # A bad name inside a spec reaches the operation: the same message at both doors.
    _environment(api, signed_in)
    spec = "proton: ServiceSpec\ninstances:\n  - name: a\n    environment: dev\n  - name: a\n"
    code, message = api.refused(
        "CreateService",
        {"name": "shop", "templateName": "webapp", "templateMajorVersion": "1", "spec": spec},
    )
    yaml_page = signed_in.post(SVC_URL, {"mode": "yaml", "action": "create", "name": "shop",
                                         "spec": spec})
    assert (code, yaml_page.status_code) == ("ValidationException", 400)
    assert _beside(yaml_page.text, "spec") == message
    assert "instances[1].name: instance 'a' is listed twice" in message


def test_a_taken_name(api: Api, signed_in: Portal) -> None:
    _environment(api, signed_in)
    other_spec = "proton: EnvironmentSpec\nspec:\n  size: large\n"
    code, _ = api.refused(
        "CreateEnvironment",
        {"name": "dev", "templateName": "network", "templateMajorVersion": "1",
         "spec": other_spec, "protonServiceRoleArn": ROLE},
    )
    page = signed_in.post(ENV_URL, {"mode": "yaml", "name": "dev", "spec": other_spec,
                                    "role": ROLE})
    assert (code, page.status_code) == ("ConflictException", 400)
    assert _beside(page.text, "name") == "is already taken by another environment"
    # An identical retry: the API answers with what exists (Proton's idempotency); the
    # portal, which passes ExistingName.REFUSE to the same operation, says the name is taken.
    same = {"name": "dev", "templateName": "network", "templateMajorVersion": "1",
            "spec": "proton: EnvironmentSpec\nspec:\n  size: small\n",
            "protonServiceRoleArn": ROLE}
    assert api.call("CreateEnvironment", same)[0] == 200
    context = in_process.context(signed_in.runtime, "portal:robin", "CreateEnvironment")
    with pytest.raises(Conflict) as refused:
        environment_operations.create_environment(context, same, existing=ExistingName.REFUSE)
    assert (refused.value.message, refused.value.field) == (
        "The environment 'dev' already exists.", ("name",))
    assert _count(signed_in, Environment) == 1


def test_members_of_unbuilt_features_are_refused_in_process_too(signed_in: Portal) -> None:
    context = in_process.context(signed_in.runtime, "portal:robin", "CreateEnvironmentTemplate")
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    with pytest.raises(InvalidInput) as refused:
        template_operations.create_environment_template(
            context, {"name": "unbuilt-key", "encryptionKey": key}
        )
    assert refused.value.field == ("encryptionKey",)
    with signed_in.runtime.db.session() as session:
        assert session.scalar(select(Template).where(Template.name == "unbuilt-key")) is None
