"""Builds a valid input for any operation from the model, for routing tests."""

from __future__ import annotations

import uuid
from typing import Any

from botocore.model import Shape

# Values that satisfy the model's patterns, by shape name.
SAMPLE_STRINGS = {
    "ResourceName": "routing-probe",
    "ResourceNameOrEmpty": "routing-probe",
    "TemplateVersionPart": "1",
    "FullTemplateVersionNumber": "1.0",
    "Arn": "arn:aws:proton:us-east-1:123456789012:environment/routing-probe",
    "RoleArn": "arn:aws:iam::123456789012:role/probe",
    "RoleArnOrEmptyString": "arn:aws:iam::123456789012:role/probe",
    "AwsAccountId": "123456789012",
    "RepositoryName": "owner/repo",
    "S3Bucket": "probe-bucket",
    "ClientToken": "probe-token",
    "NextToken": "AAAA",
    "SpecContents": "proton: EnvironmentSpec\nspec: {}\n",
}


def sample_value(shape: Shape) -> Any:
    kind = shape.type_name
    if kind == "structure":
        members = shape.members  # type: ignore[attr-defined]
        if shape.is_tagged_union:  # type: ignore[attr-defined]
            name = next(iter(members))
            return {name: sample_value(members[name])}
        return {name: sample_value(members[name]) for name in shape.required_members}  # type: ignore[attr-defined]
    if kind == "list":
        return [sample_value(shape.member)]  # type: ignore[attr-defined]
    if kind in ("integer", "long"):
        return shape.metadata.get("min", 1)
    if kind == "boolean":
        return False
    if kind == "timestamp":
        return 0
    if shape.enum:
        return shape.enum[0]
    if shape.name in SAMPLE_STRINGS:
        return SAMPLE_STRINGS[shape.name]
    if "pattern" in shape.metadata and "[0-9a-f]{8}-" in shape.metadata["pattern"]:
        return str(uuid.uuid4())
    return "probe" if shape.metadata.get("max", 5) >= 5 else "p"


def sample_input(operation: Any) -> dict[str, Any]:
    shape = operation.input_shape
    return {} if shape is None else sample_value(shape)
