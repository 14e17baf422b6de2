"""Bodies that cannot be decoded get AWS's 400 SerializationException, never a 500.

A 500 would be an error of ours, and boto3 retries it; a deep document or a lone surrogate
is the caller's mistake, named in the answer, and the server keeps working after it.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from tests.support.bundles import Registry
from tests.support.deploying import env_spec, error_message, publish_environment_template
from tests.support.processes import BaryonProcess

ROLE = "arn:aws:iam::123456789012:role/proton"
TEMPLATE = f"undecodable-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def template(baryon: BaryonProcess, proton: Any, s3: Any) -> str:
    publish_environment_template(Registry(proton, s3), TEMPLATE)
    return TEMPLATE


def _signed_post(baryon: BaryonProcess, proton: Any, operation: str, body: bytes) -> Any:
    """A correctly signed call with a hand-made body, answered as the server answers it."""
    request = AWSRequest(
        method="POST",
        url=baryon.endpoint + "/",
        data=body,
        headers={
            "X-Amz-Target": f"AwsProton20200720.{operation}",
            "Content-Type": "application/x-amz-json-1.0",
        },
    )
    SigV4Auth(proton._request_signer._credentials, "proton", "us-east-1").add_auth(request)
    return httpx.post(baryon.endpoint + "/", content=body, headers=dict(request.headers))


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000, b"[" * 100_000 + b"]" * 100_000, b'{"nextToken":' * 50_000 + b"1"],
    ids=["unclosed", "closed", "objects"],
)
def test_deep_nesting_is_a_serialization_error(
    baryon: BaryonProcess, proton: Any, body: bytes
) -> None:
    response = _signed_post(baryon, proton, "ListEnvironmentTemplates", body)
    assert response.status_code == 400, response.text
    assert response.json()["__type"] == "SerializationException"
    assert "levels deep" in response.json()["message"]
    assert proton.list_environment_templates()["templates"] is not None


def test_bytes_that_are_not_utf8_are_a_serialization_error(
    baryon: BaryonProcess, proton: Any
) -> None:
    body = b'{"name":"bad","description":"\xed\xa0\x80"}'  # a surrogate, encoded as UTF-8
    response = _signed_post(baryon, proton, "CreateEnvironmentTemplate", body)
    assert response.status_code == 400, response.text
    assert response.json()["__type"] == "SerializationException"
    assert "not valid UTF-8" in response.json()["message"]


def test_a_lone_surrogate_in_a_description_is_refused_and_nothing_is_created(
    proton: Any,
) -> None:
    name = f"surrogate-{uuid.uuid4().hex[:6]}"
    with pytest.raises(proton.exceptions.ClientError) as caught:
        proton.create_environment_template(name=name, description="before \ud800 after")
    assert caught.value.response["Error"]["Code"] == "SerializationException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "'description'" in error_message(caught)
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.get_environment_template(name=name)
    created = proton.create_environment_template(name=name, description="before \U0001f600")
    assert created["environmentTemplate"]["description"] == "before \U0001f600"


def test_a_lone_surrogate_in_a_spec_is_refused(proton: Any, template: str) -> None:
    name = f"surrogate-{uuid.uuid4().hex[:6]}"
    spec = env_spec(size="small") + "note: \ud800\n"
    with pytest.raises(proton.exceptions.ClientError) as caught:
        proton.create_environment(
            name=name,
            templateName=template,
            templateMajorVersion="1",
            spec=spec,
            protonServiceRoleArn=ROLE,
        )
    assert caught.value.response["Error"]["Code"] == "SerializationException"
    assert "'spec'" in error_message(caught)


def test_a_yaml_surrogate_escape_in_a_spec_is_a_validation_error_naming_the_spec(
    proton: Any, template: str
) -> None:
    name = f"surrogate-{uuid.uuid4().hex[:6]}"
    spec = 'proton: EnvironmentSpec\nspec:\n  size: "\\ud800"\n'  # YAML's own escape
    with pytest.raises(proton.exceptions.ValidationException) as caught:
        proton.create_environment(
            name=name,
            templateName=template,
            templateMajorVersion="1",
            spec=spec,
            protonServiceRoleArn=ROLE,
        )
    assert "spec line 3" in error_message(caught)
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.get_environment(name=name)


@pytest.mark.parametrize("encoded", ["%ED%A0%80", "%FF"], ids=["surrogate", "not-utf8"])
def test_a_portal_form_field_that_is_not_utf8_is_refused_by_name(
    baryon: BaryonProcess, encoded: str
) -> None:
    with httpx.Client(base_url=baryon.endpoint) as browser:
        form = browser.get("/portal/sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token, form.text
        response = browser.post(
            "/portal/sign-in",
            content=f"csrf_token={token.group(1)}&name=ad{encoded}min&password=x".encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 400, response.text
    assert "The field &#39;name&#39; of that form is not valid UTF-8 text." in response.text
