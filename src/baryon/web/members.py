"""Checks of the request members a form fills (names, descriptions, repository), from the
Proton model itself, so the portal accepts exactly what the API accepts."""

from __future__ import annotations

import re
from functools import cache

from botocore.model import Shape

from baryon.api.service_models import PROTON, service_model

# How to say a model pattern in words, by the model's shape name.
_PATTERN_WORDS = {
    "ResourceName": "use letters, digits, '-' and '_', starting with a letter or a digit",
    "Arn": "must be an ARN such as arn:aws:codestar-connections:us-east-1:111122223333:"
    "connection/example",
}


@cache
def _member(operation: str, member: str) -> Shape:
    shape = service_model(PROTON).operation_model(operation).input_shape
    assert shape is not None
    return shape.members[member]


def problem(operation: str, member: str, value: str, *, required: bool = True) -> str | None:
    """Why ``value`` is not a valid ``member`` of ``operation``'s request, in words, or None."""
    if value == "":
        return "is required" if required else None
    shape = _member(operation, member)
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and len(value) < low:
        return f"needs at least {low} characters"
    if high is not None and len(value) > high:
        return f"has at most {high} characters (this has {len(value)})"
    pattern = shape.metadata.get("pattern")
    if pattern and not re.search(pattern, value):
        return _PATTERN_WORDS.get(shape.name, f"must match {pattern}")
    return None
