"""The front door as clients see it, through a live `baryon up` on loopback."""

from __future__ import annotations

import json
from typing import Any

import botocore.exceptions
import httpx
import pytest
from botocore import xform_name

import baryon.operations  # noqa: F401  (fills the registry this test compares against)
from baryon.operations import registry
from baryon.service_models import PROTON, service_model
from tests.support.model_inputs import sample_input
from tests.support.processes import BaryonProcess

MODEL = service_model(PROTON)


def _raw_call(client: Any, operation: str, params: dict[str, Any]) -> tuple[int, dict, dict]:
    """Calls through botocore's signer but returns the raw HTTP status, headers and body."""
    captured: dict[str, Any] = {}

    def keep(http_response: Any = None, **_: Any) -> None:
        captured["status"] = http_response.status_code
        captured["headers"] = dict(http_response.headers)
        captured["body"] = json.loads(http_response.content or b"{}")

    client.meta.events.register("after-call.proton", keep)
    try:
        getattr(client, xform_name(operation))(**params)
    except botocore.exceptions.ClientError:
        pass
    finally:
        client.meta.events.unregister("after-call.proton", keep)
    return captured["status"], captured["headers"], captured["body"]


def test_all_87_operations_are_routed_and_never_answer_500(baryon: BaryonProcess) -> None:
    client = baryon.client("proton")
    assert len(MODEL.operation_names) == 87
    unbuilt = []
    for name in MODEL.operation_names:
        operation = MODEL.operation_model(name)
        status, headers, body = _raw_call(client, name, sample_input(operation))
        assert status != 500, f"{name}: {body}"
        assert headers.get("x-amzn-requestid"), name
        if status == 200:
            continue
        modeled = {error.name for error in operation.error_shapes}
        assert body["__type"] in modeled, f"{name} answered unmodeled {body}"
        if registry.handler_for(PROTON, name) is None:
            unbuilt.append(name)
            assert body == {
                "__type": "ValidationException",
                "message": f"The operation {name} is not yet available in this Baryon server.",
            }
    assert len(unbuilt) == 87 - len(registry.implemented(PROTON))


def test_unknown_target_and_bad_json(baryon: BaryonProcess) -> None:
    client = baryon.client("proton")
    # Reuse botocore's signer on a hand-made request body.
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    credentials = client._request_signer._credentials
    for target, body, code in [
        ("AwsProton20200720.FlyToTheMoon", b"{}", "UnknownOperationException"),
        ("AwsProton20200720.ListServices", b"{not json", "SerializationException"),
        ("AwsProton20200720.ListServices", b"[1,2]", "ValidationException"),
    ]:
        request = AWSRequest(
            method="POST",
            url=baryon.endpoint + "/",
            data=body,
            headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.0"},
        )
        SigV4Auth(credentials, "proton", "us-east-1").add_auth(request)
        response = httpx.post(baryon.endpoint + "/", content=body, headers=dict(request.headers))
        assert response.status_code == 400
        assert response.json()["__type"] == code
        assert response.headers["x-amzn-requestid"]
        assert response.headers["content-type"] == "application/x-amz-json-1.0"


def test_unsigned_request_is_refused(baryon: BaryonProcess) -> None:
    response = httpx.post(
        baryon.endpoint + "/",
        content=b"{}",
        headers={
            "X-Amz-Target": "AwsProton20200720.ListServices",
            "Content-Type": "application/x-amz-json-1.0",
        },
    )
    assert response.status_code == 403
    assert response.json()["__type"] == "MissingAuthenticationTokenException"


@pytest.mark.parametrize(
    ("overrides", "code", "fragment"),
    [
        ({"aws_secret_access_key": "wrong"}, "InvalidSignatureException", "does not match"),
        (
            {"aws_access_key_id": "BARYNOSUCHKEY0000000"},
            "UnrecognizedClientException",
            "security token included in the request is invalid",
        ),
        ({"region_name": "eu-west-1"}, "InvalidSignatureException", "valid region"),
    ],
)
def test_bad_credentials_get_aws_error_codes(
    baryon: BaryonProcess, overrides: dict, code: str, fragment: str
) -> None:
    client = baryon.client("proton", **overrides)
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        client.list_environment_templates()
    assert caught.value.response["Error"]["Code"] == code
    assert fragment in caught.value.response["Error"]["Message"]


def test_validation_names_the_member_through_boto3(baryon: BaryonProcess) -> None:
    client = baryon.client("proton")
    with pytest.raises(client.exceptions.ValidationException) as caught:
        client.update_environment(name="bad name!", deploymentType="BOGUS")
    message = caught.value.response["Error"]["Message"]
    assert "at 'name'" in message and "at 'deploymentType'" in message
    with pytest.raises(client.exceptions.ValidationException, match="maxResults"):
        client.list_environment_templates(maxResults=500)


def test_extension_model_is_served(baryon: BaryonProcess) -> None:
    info = baryon.client("baryon").get_server_info()
    assert info["region"] == "us-east-1"
    assert info["accountId"] == "123456789012"
    assert info["bundleBucket"] == "baryon-bundles-123456789012"
    assert info["cloudEndpoint"] == baryon.cloud_endpoint
