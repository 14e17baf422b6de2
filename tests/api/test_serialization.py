"""Output serialization by the model."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from baryon.api.serialization import OutputShapeError, serialize_output
from baryon.service_models import PROTON, service_model


def _output(operation: str):
    return service_model(PROTON).operation_model(operation).output_shape


def test_only_modeled_members_and_epoch_timestamps() -> None:
    when = datetime(2026, 11, 27, 12, 0, 0, 250000, tzinfo=UTC)
    result = serialize_output(
        _output("GetEnvironmentTemplate"),
        {
            "environmentTemplate": {
                "arn": "arn:aws:proton:us-east-1:123456789012:environment-template/t",
                "name": "t",
                "createdAt": when,
                "lastModifiedAt": when,
                "internalId": 42,
                "description": None,
            },
            "debug": "dropped",
        },
    )
    assert result == {
        "environmentTemplate": {
            "arn": "arn:aws:proton:us-east-1:123456789012:environment-template/t",
            "name": "t",
            "createdAt": when.timestamp(),
            "lastModifiedAt": when.timestamp(),
        }
    }


def test_missing_required_member_is_a_server_bug() -> None:
    with pytest.raises(OutputShapeError, match="required member"):
        serialize_output(_output("GetEnvironmentTemplate"), {"environmentTemplate": {"name": "t"}})


def test_union_must_have_one_member() -> None:
    state = {
        "environment": {
            "templateName": "t",
            "templateMajorVersion": "1",
            "templateMinorVersion": "0",
        },
        "servicePipeline": {
            "templateName": "t",
            "templateMajorVersion": "1",
            "templateMinorVersion": "0",
        },
    }
    deployment = {
        "arn": "a",
        "id": "i",
        "createdAt": 0,
        "deploymentStatus": "SUCCEEDED",
        "environmentName": "e",
        "lastModifiedAt": 0,
        "targetArn": "t",
        "targetResourceCreatedAt": 0,
        "targetResourceType": "ENVIRONMENT",
        "targetState": state,
    }
    with pytest.raises(OutputShapeError, match="exactly one member"):
        serialize_output(_output("GetDeployment"), {"deployment": deployment})


def test_a_misfit_deep_in_a_list_is_named_by_its_whole_path() -> None:
    good = {
        "arn": "a",
        "name": "one",
        "serviceName": "s",
        "environmentName": "e",
        "templateName": "t",
        "templateMajorVersion": "1",
        "templateMinorVersion": "0",
        "deploymentStatus": "SUCCEEDED",
        "createdAt": 0,
        "lastDeploymentAttemptedAt": 0,
        "lastDeploymentSucceededAt": 0,
    }
    listed = serialize_output(_output("ListServiceInstances"), {"serviceInstances": [good]})
    assert listed["serviceInstances"][0]["name"] == "one"
    with pytest.raises(OutputShapeError) as misfit:
        serialize_output(
            _output("ListServiceInstances"), {"serviceInstances": [good, {**good, "name": 7}]}
        )
    assert str(misfit.value).startswith("ListServiceInstancesOutput.serviceInstances[1].name:")
