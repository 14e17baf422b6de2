"""Where moto creates, updates or deletes a stack's resource unlike CloudFormation does.

Each fix here made a stack operation fail (or succeed wrongly) in the local cloud where AWS
would not, and each showed up in a rollback, which re-applies a template through the same
update path:

- S3 bucket: changing Tags of a bucket without a BucketName raised ``KeyError: 'BucketName'``;
  deleting a bucket that still holds objects silently "succeeded" and left it behind, where
  AWS's delete fails with BucketNotEmpty.
- SSM parameter: without a Name, moto put a parameter named None (AWS generates the name);
  every update deleted and re-created the parameter under a freshly generated name, so a
  value change of an unnamed parameter replaced it, and any later update re-created a name
  that was gone. AWS updates the value in place and replaces the parameter only on a rename.
- SQS queue: a QueueName change was ignored; on AWS it replaces the queue.
"""

from __future__ import annotations

import threading
from typing import Any

_installed: list[bool] = []
_install_lock = threading.Lock()


def install() -> None:
    """Safe to call more than once."""
    from moto.s3.models import FakeBucket
    from moto.sqs.models import Queue
    from moto.ssm.models import Parameter

    with _install_lock:
        if _installed:
            return
        _installed.append(True)
        bucket_update = FakeBucket.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]
        queue_update = Queue.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]
        _patch(FakeBucket, "update_from_cloudformation_json", _bucket_update(bucket_update))
        _patch(FakeBucket, "delete_from_cloudformation_json", _delete_bucket)
        _patch(Parameter, "create_from_cloudformation_json", _create_parameter)
        _patch(Parameter, "update_from_cloudformation_json", _update_parameter)
        _patch(Queue, "update_from_cloudformation_json", _queue_update(queue_update))


def _patch(model: Any, name: str, function: Any) -> None:
    setattr(model, name, classmethod(function))


# --- S3 ----------------------------------------------------------------------------------------


def _bucket_update(original: Any) -> Any:
    def update(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        properties = cloudformation_json.get("Properties") or {}
        if "BucketName" not in properties:
            # No name in the template: the bucket keeps the one it was given.
            cloudformation_json = dict(cloudformation_json)
            cloudformation_json["Properties"] = {**properties, "BucketName": original_resource.name}
        return original(
            cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
        )

    return update


def _delete_bucket(
    cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
) -> None:
    from moto.s3.exceptions import BucketNotEmpty
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    backend = s3_backends[account_id][get_partition(region_name)]
    if backend.get_bucket(resource_name).keys:
        raise BucketNotEmpty(resource_name)
    backend.delete_bucket(resource_name)


# --- SSM -------------------------------------------------------------------------------------


def _parameter_arguments(name: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "description": properties.get("Description"),
        "value": properties.get("Value"),
        "parameter_type": properties.get("Type"),
        "allowed_pattern": properties.get("AllowedPattern"),
        "keyid": properties.get("KeyId"),
        "overwrite": False,
        "tags": properties.get("Tags"),
        "data_type": properties.get("DataType", "text"),
        "tier": properties.get("Tier"),
        "policies": properties.get("Policies"),
    }


def _ssm(account_id: str, region_name: str) -> Any:
    from moto.ssm.models import ssm_backends

    return ssm_backends[account_id][region_name]


def _create_parameter(
    cls: Any,
    resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> Any:
    properties = cloudformation_json.get("Properties") or {}
    name = properties.get("Name") or resource_name
    return _ssm(account_id, region_name).put_parameter(**_parameter_arguments(name, properties))


def _update_parameter(
    cls: Any,
    original_resource: Any,
    new_resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
) -> Any:
    properties = cloudformation_json.get("Properties") or {}
    name = properties.get("Name") or original_resource.name
    backend = _ssm(account_id, region_name)
    if name != original_resource.name:  # a rename replaces: the new one first, as AWS does
        created = backend.put_parameter(**_parameter_arguments(name, properties))
        backend.delete_parameter(original_resource.name)
        return created
    arguments = _parameter_arguments(name, properties)
    # SSM refuses Tags with Overwrite; tags are not what an in-place update changes here.
    arguments.update(overwrite=True, tags=None)
    return backend.put_parameter(**arguments)


# --- SQS -------------------------------------------------------------------------------------


def _queue_update(original: Any) -> Any:
    def update(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        properties = cloudformation_json.get("Properties") or {}
        renamed = properties.get("QueueName")
        if renamed is None or str(renamed) == original_resource.name:
            return original(
                cls,
                original_resource,
                new_resource_name,
                cloudformation_json,
                account_id,
                region_name,
            )
        replacement = cls.create_from_cloudformation_json(
            str(renamed), cloudformation_json, account_id, region_name
        )
        cls.delete_from_cloudformation_json(
            original_resource.name, cloudformation_json, account_id, region_name
        )
        return replacement

    return update
