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
- Deletion: moto deletes a stack's resource through the model's ``delete(account_id,
  region_name)`` (else ``delete_from_cloudformation_json``); ECS services, clusters and task
  definitions, ELBv2 listeners, rules and target groups, Lambda permissions and IAM managed
  policies have neither, so their stack's delete "succeeded" and left them behind. The EC2
  network models are in ``ec2_lifecycle_fixes``. Each delete treats a resource already gone
  as deleted, as CloudFormation does, and is a method on the class, so no object gains an
  attribute a state snapshot would have to carry (the Lambda permission keeps two strings).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from baryon.cloud import ec2_lifecycle_fixes
from baryon.cloud.patching import installs_once


@installs_once
def install() -> None:
    """Safe to call more than once."""
    from moto.s3.models import FakeBucket
    from moto.sqs.models import Queue
    from moto.ssm.models import Parameter

    bucket_update = FakeBucket.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    queue_update = Queue.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    _patch(FakeBucket, "update_from_cloudformation_json", _bucket_update(bucket_update))
    _patch(FakeBucket, "delete_from_cloudformation_json", _delete_bucket)
    _patch(Parameter, "create_from_cloudformation_json", _create_parameter)
    _patch(Parameter, "update_from_cloudformation_json", _update_parameter)
    _patch(Queue, "update_from_cloudformation_json", _queue_update(queue_update))
    _install_deletions()
    ec2_lifecycle_fixes.install()


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


# --- Deletion of models moto leaves behind ---------------------------------------------------


def _install_deletions() -> None:
    from moto.awslambda.models import Permission
    from moto.ecs.models import Cluster, Service, TaskDefinition
    from moto.elbv2.models import FakeListener, FakeListenerRule, FakeTargetGroup
    from moto.iam.models import ManagedPolicy

    deletions: list[tuple[Any, Any]] = [
        (Service, _delete_ecs_service),
        (Cluster, _delete_ecs_cluster),
        (TaskDefinition, _deregister_task_definition),
        (FakeListener, _delete_listener),
        (FakeListenerRule, _delete_listener_rule),
        (FakeTargetGroup, _delete_target_group),
        (Permission, _remove_lambda_permission),
        (ManagedPolicy, _delete_managed_policy),
    ]
    for model, delete in deletions:
        model.delete = delete
    create_permission = Permission.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    _patch(Permission, "create_from_cloudformation_json", _noted_permission(create_permission))


class EcsStatus(StrEnum):
    """ECS keeps a deleted service or cluster and a deregistered task definition, INACTIVE."""

    INACTIVE = "INACTIVE"


def _ecs(account_id: str, region_name: str) -> Any:
    from moto.ecs.models import ecs_backends

    return ecs_backends[account_id][region_name]


def _delete_ecs_service(service: Any, account_id: str, region_name: str) -> None:
    backend = _ecs(account_id, region_name)
    current = backend.services.get(f"{service.cluster_name}:{service.name}")
    if current is None or current.status == EcsStatus.INACTIVE:
        return
    # CloudFormation scales the service to zero and deletes it: moto's force does both.
    backend.delete_service(service.cluster_name, service.name, force=True)


def _delete_ecs_cluster(cluster: Any, account_id: str, region_name: str) -> None:
    backend = _ecs(account_id, region_name)
    current = backend.clusters.get(cluster.name)
    if current is not None and current.status != EcsStatus.INACTIVE:
        backend.delete_cluster(cluster.name)


def _deregister_task_definition(definition: Any, account_id: str, region_name: str) -> None:
    revisions = _ecs(account_id, region_name).task_definitions.get(definition.family, {})
    current = revisions.get(definition.revision)
    if current is not None:
        current.status = EcsStatus.INACTIVE


def _elbv2(account_id: str, region_name: str) -> Any:
    from moto.elbv2.models import elbv2_backends

    return elbv2_backends[account_id][region_name]


def _delete_listener(listener: Any, account_id: str, region_name: str) -> None:
    backend = _elbv2(account_id, region_name)
    balancer = backend.load_balancers.get(listener.load_balancer_arn)
    if balancer is not None and listener.arn in balancer.listeners:
        backend.delete_listener(listener.arn)


def _delete_listener_rule(rule: Any, account_id: str, region_name: str) -> None:
    _elbv2(account_id, region_name).delete_rule(rule.arn)  # moto ignores an unknown rule


def _delete_target_group(group: Any, account_id: str, region_name: str) -> None:
    backend = _elbv2(account_id, region_name)
    if group.arn in backend.target_groups:
        # Still used by a listener or rule: moto raises ResourceInUse, as AWS does, and the
        # stack's delete retries once they are gone.
        backend.delete_target_group(group.arn)


def _lambda(account_id: str, region_name: str) -> Any:
    from moto.awslambda.models import lambda_backends

    return lambda_backends[account_id][region_name]


def _noted_permission(original: Any) -> Any:
    """moto's Permission object keeps neither its function nor its statement: note both."""

    def create(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = cloudformation_json["Properties"]
        function = _lambda(account_id, region_name).get_function(properties["FunctionName"])
        permission = original(
            cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        permission.function_name = str(function.function_name)
        permission.statement_id = str(function.policy.statements[-1]["Sid"])
        return permission

    return create


def _remove_lambda_permission(permission: Any, account_id: str, region_name: str) -> None:
    name = getattr(permission, "function_name", None)
    if name is None:  # created before this fix was installed: nothing to find it by
        return
    for function in _lambda(account_id, region_name).list_functions():
        if function.function_name == name:
            statements = function.policy.statements
            statements[:] = [s for s in statements if s.get("Sid") != permission.statement_id]


def _delete_managed_policy(policy: Any, account_id: str, region_name: str) -> None:
    from moto.iam.models import iam_backends
    from moto.utilities.utils import get_partition

    backend = iam_backends[account_id][get_partition(region_name)]
    if policy.arn not in backend.managed_policies:
        return
    # CloudFormation detaches the policy from every role, user and group before deleting it.
    for holders in (backend.roles, backend.users, backend.groups):
        for holder in holders.values():
            if policy.arn in holder.managed_policies:
                policy.detach_from(holder)
    backend.delete_policy(policy.arn)
