"""The AWS::Serverless-2016-10-31 transform, run in the local cloud as CloudFormation runs it.

moto has no transforms: a SAM template reaches its resource parser with ``AWS::Serverless::*``
types and fails with an HTTP 500. AWS's own translator (aws-sam-translator) expands the
template before the local cloud checks it or moto sees it. The translator normally asks IAM
for the managed-policy ARNs and boto3 for the region; here both come from what it ships and
from the request, so the transform works offline.
"""

from __future__ import annotations

import threading
from typing import Any

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
# The translator keeps the region in a class attribute; one translation at a time.
_lock = threading.Lock()


class SamError(ValueError):
    """The translator refused the template; the message is its text, as AWS shows it."""


def declares_sam(template: Any) -> bool:
    if not isinstance(template, dict):
        return False
    declared = template.get("Transform")
    names = declared if isinstance(declared, list) else [declared]
    return SAM_TRANSFORM in names


def expand(template: dict[str, Any], region: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """The template with its SAM resources replaced by CloudFormation ones."""
    import boto3
    from samtranslator.internal.managed_policies import get_bundled_managed_policy_map  # type: ignore[import-untyped]
    from samtranslator.model.exceptions import InvalidDocumentException  # type: ignore[import-untyped]
    from samtranslator.parser.parser import Parser  # type: ignore[import-untyped]
    from samtranslator.translator.arn_generator import ArnGenerator  # type: ignore[import-untyped]
    from samtranslator.translator.translator import Translator  # type: ignore[import-untyped]

    # A session built from a region only reads no credentials and calls nothing.
    session = boto3.session.Session(region_name=region)
    partition = ArnGenerator.get_partition_name(region)
    policies = get_bundled_managed_policy_map(partition) or {}
    with _lock:
        translator = Translator(None, Parser(), boto_session=session)
        try:
            expanded: dict[str, Any] = translator.translate(
                _without_other_transforms(template),
                parameter_values=dict(parameters),
                get_managed_policy_map=lambda: policies,
            )
        except InvalidDocumentException as exc:
            causes = "; ".join(str(cause.message) for cause in exc.causes)
            raise SamError(f"Transform {SAM_TRANSFORM} failed with: {causes}") from exc
    return expanded


def _without_other_transforms(template: dict[str, Any]) -> dict[str, Any]:
    copied = dict(template)
    declared = copied.get("Transform")
    if isinstance(declared, list):
        copied["Transform"] = SAM_TRANSFORM
    return copied
