"""Drift detection in the local cloud, which moto lacks: DetectStackDrift,
DescribeStackDriftDetectionStatus, DescribeStackResourceDrifts and DetectStackResourceDrift
answered as CloudFormation answers them, and change sets with ``DeploymentMode=REVERT_DRIFT``
(a drift-aware change set puts drifted properties back to the template's values, and here
creates a deleted resource again from the template).

As on AWS, only properties explicitly set in the template are compared, with the values the
stack resolved when it deployed (parameters, Ref and Fn:: functions applied). Each modelled
type reads its live resource from moto's own backend (what the services' APIs change); a
type not modelled here reports NOT_CHECKED, and so does a property a modelled type does not
read. Detection ends within the request (DETECTION_COMPLETE at once); the results are kept on
the CloudFormation backend, so they survive the cloud's snapshots like the stacks do.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from baryon.cloud.patching import installs_once

REVERT_DRIFT = "REVERT_DRIFT"
_DETECTIONS = "baryon_drift_detections"
_REVERTS = "baryon_revert_change_sets"
NO_CHANGES = (
    "The submitted information didn't contain changes. Submit different information to "
    "create a change set."
)


class DifferenceType(StrEnum):
    ADD = "ADD"
    REMOVE = "REMOVE"
    NOT_EQUAL = "NOT_EQUAL"


class ResourceDriftStatus(StrEnum):
    IN_SYNC = "IN_SYNC"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    NOT_CHECKED = "NOT_CHECKED"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class PropertyDifference:
    path: str  # "/Properties/VisibilityTimeout", AWS's PropertyPath
    expected: str
    actual: str
    kind: DifferenceType
    name: str  # the top-level property it lies under, which a revert writes back whole


@dataclass(frozen=True)
class ResourceDrift:
    logical_id: str
    physical_id: str
    resource_type: str
    status: ResourceDriftStatus
    expected: Mapping[str, Any]
    actual: Mapping[str, Any]
    differences: tuple[PropertyDifference, ...]
    reason: str | None = None


# --- the modelled types: read the live properties, write one back ----------------------------


def _backend(service: str, account: str, region: str) -> Any:
    from moto.backends import get_backend

    return get_backend(service)[account][region]  # type: ignore[call-overload]


@dataclass(frozen=True)
class LiveType:
    """How one resource type is read (None: the resource is gone) and written back."""

    properties: frozenset[str]
    read: Callable[[str, str, str], dict[str, Any] | None]
    write: Callable[[str, str, str, str, Any], None]
    # A template value put in the shape the read gives it (a list the service orders its way).
    expected_as_read: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)


def _queue_name(physical_id: str) -> str:
    return physical_id.rstrip("/").rsplit("/", 1)[-1]


_QUEUE_ATTRIBUTES = frozenset({
    "VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds",
    "FifoQueue", "ContentBasedDeduplication", "RedrivePolicy",
})  # fmt: skip


def _read_queue(account: str, region: str, physical_id: str) -> dict[str, Any] | None:
    queue = _backend("sqs", account, region).queues.get(_queue_name(physical_id))
    if queue is None:
        return None
    live: dict[str, Any] = {"QueueName": queue.name, "Tags": _tag_list(queue.tags or {})}
    for name, value in queue.attributes.items():
        if name in _QUEUE_ATTRIBUTES and value is not None:
            live[name] = json.loads(value) if name == "RedrivePolicy" else value
    return live


def _write_queue(account: str, region: str, physical_id: str, name: str, value: Any) -> None:
    backend = _backend("sqs", account, region)
    queue_name = _queue_name(physical_id)
    if name == "Tags":
        backend.get_queue(queue_name).tags = {t["Key"]: t["Value"] for t in value or []}
        return
    text = json.dumps(value) if isinstance(value, dict) else _scalar(value)
    backend.set_queue_attributes(queue_name, {name: text})


def _read_parameter(account: str, region: str, physical_id: str) -> dict[str, Any] | None:
    parameter = _backend("ssm", account, region).get_parameter(physical_id)
    if parameter is None:
        return None
    live = {"Name": parameter.name, "Value": parameter.value, "Type": parameter.parameter_type}
    if parameter.description:
        live["Description"] = parameter.description
    return live


def _write_parameter(account: str, region: str, physical_id: str, name: str, value: Any) -> None:
    parameter = _backend("ssm", account, region).get_parameter(physical_id)
    if parameter is not None and name in ("Value", "Description"):
        setattr(parameter, name.lower(), _scalar(value))


def _read_log_group(account: str, region: str, physical_id: str) -> dict[str, Any] | None:
    group = _backend("logs", account, region).groups.get(physical_id)
    if group is None:
        return None
    live: dict[str, Any] = {"LogGroupName": group.name}
    if group.retention_in_days:
        live["RetentionInDays"] = group.retention_in_days
    return live


def _write_log_group(account: str, region: str, physical_id: str, name: str, value: Any) -> None:
    group = _backend("logs", account, region).groups.get(physical_id)
    if group is not None and name == "RetentionInDays":
        group.retention_in_days = int(value)


def _read_bucket(account: str, region: str, physical_id: str) -> dict[str, Any] | None:
    # S3's backends are per partition. Only the name is read: moto's CloudFormation does not
    # apply a bucket's other properties (VersioningConfiguration, ...), so comparing them would
    # report drift nobody made; a deleted bucket still shows DELETED.
    bucket = _backend("s3", account, "aws").buckets.get(physical_id)
    return None if bucket is None else {"BucketName": bucket.name}


def _write_bucket(account: str, region: str, physical_id: str, name: str, value: Any) -> None:
    """Nothing to write back: the name never drifts without the bucket being another."""


def _read_topic(account: str, region: str, physical_id: str) -> dict[str, Any] | None:
    topic = _backend("sns", account, region).topics.get(physical_id)
    if topic is None:
        return None
    live: dict[str, Any] = {"TopicName": topic.name}
    if topic.display_name:
        live["DisplayName"] = topic.display_name
    if topic.kms_master_key_id:
        live["KmsMasterKeyId"] = topic.kms_master_key_id
    return live


def _write_topic(account: str, region: str, physical_id: str, name: str, value: Any) -> None:
    attribute = {"DisplayName": "display_name", "KmsMasterKeyId": "kms_master_key_id"}.get(name)
    if attribute is not None:
        _backend("sns", account, region).set_topic_attribute(physical_id, attribute, str(value))


def _function(account: str, region: str, physical_id: str) -> Any:
    found = _backend("lambda", account, region)._lambdas._functions.get(physical_id)
    return None if found is None else found["latest"]


# Lambda's properties and the attributes moto keeps them in.
_FUNCTION_ATTRIBUTES = {
    "MemorySize": "memory_size",
    "Timeout": "timeout",
    "Description": "description",
    "Handler": "handler",
    "Runtime": "run_time",
}


def _read_function(account: str, region: str, physical_id: str) -> dict[str, Any] | None:
    function = _function(account, region, physical_id)
    if function is None:
        return None
    live: dict[str, Any] = {"FunctionName": function.function_name}
    for name, attribute in _FUNCTION_ATTRIBUTES.items():
        value = getattr(function, attribute, None)
        if value not in (None, ""):
            live[name] = value
    live["Environment"] = {"Variables": dict(function.environment_vars or {})}
    return live


def _write_function(account: str, region: str, physical_id: str, name: str, value: Any) -> None:
    function = _function(account, region, physical_id)
    if function is None:
        return
    if name == "Environment":
        function.environment_vars = dict((value or {}).get("Variables") or {})
    elif name in ("MemorySize", "Timeout"):
        setattr(function, _FUNCTION_ATTRIBUTES[name], int(value))
    elif name in _FUNCTION_ATTRIBUTES:
        setattr(function, _FUNCTION_ATTRIBUTES[name], _scalar(value))


def _ecs_service(account: str, region: str, physical_id: str) -> Any:
    for service in _backend("ecs", account, region).services.values():
        if physical_id in (service.arn, service.name) and service.status == "ACTIVE":
            return service
    return None


def _read_ecs_service(account: str, region: str, physical_id: str) -> dict[str, Any] | None:
    service = _ecs_service(account, region, physical_id)
    if service is None:
        return None
    return {"ServiceName": service.name, "DesiredCount": service.desired_count}


def _write_ecs_service(account: str, region: str, physical_id: str, name: str, value: Any) -> None:
    service = _ecs_service(account, region, physical_id)
    if service is not None and name == "DesiredCount":
        service.desired_count = int(value)


def _read_table(account: str, region: str, physical_id: str) -> dict[str, Any] | None:
    table = _backend("dynamodb", account, region).tables.get(physical_id)
    if table is None:
        return None
    live: dict[str, Any] = {"TableName": table.name}
    if table.billing_mode:
        live["BillingMode"] = table.billing_mode
    throughput = table.throughput or {}
    if throughput.get("ReadCapacityUnits") or throughput.get("WriteCapacityUnits"):
        live["ProvisionedThroughput"] = {
            "ReadCapacityUnits": throughput.get("ReadCapacityUnits"),
            "WriteCapacityUnits": throughput.get("WriteCapacityUnits"),
        }
    return live


def _write_table(account: str, region: str, physical_id: str, name: str, value: Any) -> None:
    table = _backend("dynamodb", account, region).tables.get(physical_id)
    if table is None:
        return
    if name == "BillingMode":
        table.billing_mode = _scalar(value)
    elif name == "ProvisionedThroughput":
        table.throughput.update({key: int(number) for key, number in (value or {}).items()})


_ROLE_PROPERTIES = frozenset({
    "RoleName", "Path", "Description", "MaxSessionDuration", "AssumeRolePolicyDocument",
    "Policies",
})  # fmt: skip


def _role(account: str, physical_id: str) -> Any:
    # IAM's backends are per partition, like S3's.
    for role in _backend("iam", account, "aws").roles.values():
        if role.name == physical_id:
            return role
    return None


def _document(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _read_role(account: str, region: str, physical_id: str) -> dict[str, Any] | None:
    role = _role(account, physical_id)
    if role is None:
        return None
    live: dict[str, Any] = {
        "RoleName": role.name,
        "Path": role.path,
        "AssumeRolePolicyDocument": _document(role.assume_role_policy_document),
        # By name: the template's order is not the service's (see _policies_by_name).
        "Policies": [
            {"PolicyName": name, "PolicyDocument": _document(document)}
            for name, document in sorted(role.policies.items())
        ],
    }
    if role.description:
        live["Description"] = role.description
    if role.max_session_duration is not None:
        live["MaxSessionDuration"] = role.max_session_duration
    return live


def _write_role(account: str, region: str, physical_id: str, name: str, value: Any) -> None:
    role = _role(account, physical_id)
    if role is None:
        return
    if name == "Policies":
        role.policies = {
            policy["PolicyName"]: json.dumps(_document(policy["PolicyDocument"]))
            for policy in value or []
        }
    elif name == "AssumeRolePolicyDocument":
        role.assume_role_policy_document = json.dumps(_document(value))
    elif name == "Description":
        role.description = _scalar(value)
    elif name == "MaxSessionDuration":
        role.max_session_duration = int(value)


def _policies_by_name(value: Any) -> Any:
    """A role's inline policies as the live read lists them: by name."""
    if not isinstance(value, list):
        return value
    return sorted(value, key=lambda p: str(p.get("PolicyName")) if isinstance(p, dict) else "")


LIVE_TYPES: dict[str, LiveType] = {
    "AWS::SQS::Queue": LiveType(
        _QUEUE_ATTRIBUTES | {"QueueName", "Tags"}, _read_queue, _write_queue
    ),
    "AWS::SSM::Parameter": LiveType(
        frozenset({"Name", "Value", "Type", "Description"}), _read_parameter, _write_parameter
    ),
    "AWS::S3::Bucket": LiveType(frozenset({"BucketName"}), _read_bucket, _write_bucket),
    "AWS::SNS::Topic": LiveType(
        frozenset({"TopicName", "DisplayName", "KmsMasterKeyId"}), _read_topic, _write_topic
    ),
    "AWS::Logs::LogGroup": LiveType(
        frozenset({"LogGroupName", "RetentionInDays"}), _read_log_group, _write_log_group
    ),
    "AWS::Lambda::Function": LiveType(
        frozenset(_FUNCTION_ATTRIBUTES) | {"FunctionName", "Environment"},
        _read_function,
        _write_function,
    ),
    "AWS::ECS::Service": LiveType(
        frozenset({"ServiceName", "DesiredCount"}), _read_ecs_service, _write_ecs_service
    ),
    "AWS::DynamoDB::Table": LiveType(
        frozenset({"TableName", "BillingMode", "ProvisionedThroughput"}), _read_table, _write_table
    ),
    "AWS::IAM::Role": LiveType(
        _ROLE_PROPERTIES, _read_role, _write_role, {"Policies": _policies_by_name}
    ),
}


def _same(value: Any) -> Any:
    return value


def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


# --- comparing ------------------------------------------------------------------------------


def _tag_map(tags: list[Any]) -> dict[Any, Any]:
    return {t.get("Key"): t.get("Value") for t in tags if isinstance(t, dict)}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _text(value: Any) -> str:
    """A value as AWS's ExpectedValue/ActualValue show it: scalars bare, the rest as JSON."""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return _scalar(value)


def _same_number(expected: Any, actual: Any) -> bool:
    """1 and 1.0 (a service keeping a number as a float): the same value, not drift."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return False
    try:
        return float(expected) == float(actual)
    except (TypeError, ValueError):
        return False


def differences(
    name: str, expected: Any, actual: Any, path: str | None = None
) -> list[PropertyDifference]:
    """How ``actual`` differs from ``expected`` under property ``name``: objects key by key,
    lists item by item (extra items ADD, missing ones REMOVE), scalars as text ("30" = 30)."""
    if path is None and name == "Tags" and isinstance(expected, list) and isinstance(actual, list):
        # Only the template's own tags: the stack's tags reach its resources too.
        expected, actual = _tag_map(expected), _tag_map(actual)
        actual = {key: actual[key] for key in expected if key in actual}
    path = path or f"/Properties/{name}"
    if isinstance(expected, dict) and isinstance(actual, dict):
        found: list[PropertyDifference] = []
        for key in expected:
            if key not in actual:
                found.append(
                    PropertyDifference(
                        f"{path}/{key}", _text(expected[key]), "", DifferenceType.REMOVE, name
                    )
                )
            else:
                found += differences(name, expected[key], actual[key], f"{path}/{key}")
        return found
    if isinstance(expected, list) and isinstance(actual, list):
        found = []
        for index in range(max(len(expected), len(actual))):
            item_path = f"{path}/{index}"
            if index >= len(actual):
                found.append(
                    PropertyDifference(
                        item_path, _text(expected[index]), "", DifferenceType.REMOVE, name
                    )
                )
            elif index >= len(expected):
                found.append(
                    PropertyDifference(
                        item_path, "", _text(actual[index]), DifferenceType.ADD, name
                    )
                )
            else:
                found += differences(name, expected[index], actual[index], item_path)
        return found
    if actual is None:
        return [PropertyDifference(path, _text(expected), "", DifferenceType.REMOVE, name)]
    if _text(expected) != _text(actual) and not _same_number(expected, actual):
        return [
            PropertyDifference(path, _text(expected), _text(actual), DifferenceType.NOT_EQUAL, name)
        ]
    return []


def resource_drift(stack: Any, logical_id: str) -> ResourceDrift:
    """One stack resource's drift: its template properties (as the stack resolved them)
    against the live resource."""
    from moto.cloudformation.parsing import clean_json

    resource_map = stack.resource_map
    resource_json = resource_map._resource_json_map.get(logical_id) or {}
    resource_type = str(resource_json.get("Type", ""))
    parsed = resource_map._parsed_resources.get(logical_id)
    physical_id = _physical_id(parsed)
    live_type = LIVE_TYPES.get(resource_type)
    if live_type is None or parsed is None or physical_id is None:
        reason = f"The local cloud does not check {resource_type} resources for drift."
        return ResourceDrift(
            logical_id, physical_id or "", resource_type, ResourceDriftStatus.NOT_CHECKED,
            {}, {}, (), reason,
        )  # fmt: skip
    try:
        resolved = clean_json(resource_json.get("Properties") or {}, resource_map)
        expected = {
            k: live_type.expected_as_read.get(k, _same)(v)
            for k, v in resolved.items()
            if k in live_type.properties
        }
        live = live_type.read(stack.account_id, stack.region_name, physical_id)
    except Exception as exc:  # a model that cannot be read says UNKNOWN, as AWS does
        return ResourceDrift(
            logical_id, physical_id, resource_type, ResourceDriftStatus.UNKNOWN, {}, {}, (),
            f"Drift detection failed: {exc}",
        )  # fmt: skip
    if live is None:
        return ResourceDrift(
            logical_id, physical_id, resource_type, ResourceDriftStatus.DELETED, expected, {}, ()
        )
    actual = {k: live.get(k) for k in expected}
    found: list[PropertyDifference] = []
    for name, value in expected.items():
        found += differences(name, value, live.get(name))
    status = ResourceDriftStatus.MODIFIED if found else ResourceDriftStatus.IN_SYNC
    return ResourceDrift(
        logical_id, physical_id, resource_type, status, expected, actual, tuple(found)
    )


def _physical_id(parsed: Any) -> str | None:
    if parsed is None or isinstance(parsed, str):
        return None
    try:
        physical = getattr(parsed, "physical_resource_id", None)
    except Exception:  # some moto models compute it and may fail half-way
        return None
    return str(physical) if physical is not None else None


def stack_drifts(stack: Any) -> list[ResourceDrift]:
    return [resource_drift(stack, logical_id) for logical_id in stack.resource_map.resources]


_REVERTIBLE = frozenset({ResourceDriftStatus.MODIFIED, ResourceDriftStatus.DELETED})


def revert(stack: Any) -> int:
    """Writes every drifted property of ``stack`` back to the template's value and recreates
    every deleted resource from it; returns how many resources it changed."""
    changed = 0
    for drift in stack_drifts(stack):
        if drift.status is ResourceDriftStatus.DELETED:
            changed += _recreate(stack, drift.logical_id)
            continue
        if drift.status is not ResourceDriftStatus.MODIFIED:
            continue
        live_type = LIVE_TYPES[drift.resource_type]
        for name in dict.fromkeys(d.name for d in drift.differences):
            live_type.write(
                stack.account_id, stack.region_name, drift.physical_id, name, drift.expected[name]
            )
        changed += 1
    return changed


def _recreate(stack: Any, logical_id: str) -> int:
    """Creates a deleted resource again as the stack's template says, the way the stack first
    made it; one without a fixed name gets a new generated name (a new physical id), as a
    resource CloudFormation creates does. 1 when it was created."""
    from moto.cloudformation.parsing import parse_and_create_resource

    resource_map = stack.resource_map
    resource_json = copy.deepcopy(resource_map._resource_json_map[logical_id])
    created = parse_and_create_resource(
        logical_id, resource_json, resource_map, stack.account_id, stack.region_name
    )
    if created is None:
        return 0
    resource_map._parsed_resources[logical_id] = created
    return 1


# --- the API --------------------------------------------------------------------------------


def _drift_view(stack: Any, drift: ResourceDrift, at: datetime) -> dict[str, Any]:
    view: dict[str, Any] = {
        "StackId": stack.stack_id,
        "LogicalResourceId": drift.logical_id,
        "PhysicalResourceId": drift.physical_id,
        "ResourceType": drift.resource_type,
        "StackResourceDriftStatus": drift.status.value,
        "Timestamp": at,
    }
    if drift.status in (ResourceDriftStatus.MODIFIED, ResourceDriftStatus.IN_SYNC):
        view["ExpectedProperties"] = json.dumps(drift.expected, sort_keys=True)
        view["ActualProperties"] = json.dumps(drift.actual, sort_keys=True)
    if drift.status is ResourceDriftStatus.DELETED:
        view["ExpectedProperties"] = json.dumps(drift.expected, sort_keys=True)
    if drift.differences:
        view["PropertyDifferences"] = [
            {
                "PropertyPath": d.path,
                "ExpectedValue": d.expected,
                "ActualValue": d.actual,
                "DifferenceType": d.kind.value,
            }
            for d in drift.differences
        ]
    return view


def _kept(backend: Any, attribute: str) -> dict[str, Any]:
    kept = getattr(backend, attribute, None)
    if kept is None:
        kept = {}
        setattr(backend, attribute, kept)
    return kept


def _detect_stack_drift(response: Any) -> Any:
    from moto.core.responses import ActionResult

    backend = response.cloudformation_backend
    stack = backend.get_stack(response._get_param("StackName"))
    at = datetime.now(UTC)
    views = [_drift_view(stack, drift, at) for drift in stack_drifts(stack)]
    drifted = sum(1 for v in views if v["StackResourceDriftStatus"] in ("MODIFIED", "DELETED"))
    detection_id = str(uuid.uuid4())
    _kept(backend, _DETECTIONS)[detection_id] = {
        "StackId": stack.stack_id,
        "StackDriftDetectionId": detection_id,
        "StackDriftStatus": "DRIFTED" if drifted else "IN_SYNC",
        "DetectionStatus": "DETECTION_COMPLETE",
        "DriftedStackResourceCount": drifted,
        "Timestamp": at,
    }
    # The latest detection's results, which DescribeStackResourceDrifts reads.
    _kept(backend, _DETECTIONS)[stack.stack_id] = views
    return ActionResult({"StackDriftDetectionId": detection_id})


def _describe_stack_drift_detection_status(response: Any) -> Any:
    from moto.cloudformation.exceptions import ValidationError
    from moto.core.responses import ActionResult

    detection_id = response._get_param("StackDriftDetectionId")
    found = _kept(response.cloudformation_backend, _DETECTIONS).get(detection_id)
    if not isinstance(found, dict):
        raise ValidationError(message=f"Drift detection {detection_id} does not exist")
    return ActionResult(found)


def _describe_stack_resource_drifts(response: Any) -> Any:
    from moto.core.responses import ActionResult

    backend = response.cloudformation_backend
    stack = backend.get_stack(response._get_param("StackName"))
    views = _kept(backend, _DETECTIONS).get(stack.stack_id) or []
    wanted = response._get_param("StackResourceDriftStatusFilters") or []
    if wanted:
        views = [v for v in views if v["StackResourceDriftStatus"] in wanted]
    start = int(response._get_param("NextToken") or 0)
    size = int(response._get_param("MaxResults") or 100)
    result: dict[str, Any] = {"StackResourceDrifts": views[start : start + size]}
    if start + size < len(views):
        result["NextToken"] = str(start + size)
    return ActionResult(result)


def _detect_stack_resource_drift(response: Any) -> Any:
    from moto.core.responses import ActionResult

    stack = response.cloudformation_backend.get_stack(response._get_param("StackName"))
    drift = resource_drift(stack, response._get_param("LogicalResourceId"))
    return ActionResult({"StackResourceDrift": _drift_view(stack, drift, datetime.now(UTC))})


# --- drift-aware change sets ----------------------------------------------------------------


def _create_change_set(handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A REVERT_DRIFT change set of the stack's own template: moto would refuse it as "no
    updates"; it is made from the stack's template, and fails as AWS's does when nothing
    drifted (a change set without changes)."""

    def create(response: Any) -> Any:
        if response._get_param("DeploymentMode") != REVERT_DRIFT:
            return handler(response)
        from moto.core.responses import ActionResult

        backend = response.cloudformation_backend
        stack = backend.get_stack(response._get_param("StackName"))
        change_set_id, stack_id = backend.create_change_set(
            stack_name=stack.name,
            change_set_name=response._get_param("ChangeSetName"),
            template=stack.template,
            parameters=dict(stack.parameters),
            description=response._get_param("Description"),
            notification_arns=stack.notification_arns,
            tags=dict(stack.tags),
            role_arn=response._get_param("RoleARN"),
            change_set_type="UPDATE",
        )
        change_set = backend.change_sets[change_set_id]
        if any(d.status in _REVERTIBLE for d in stack_drifts(stack)):
            change_set.status, change_set.execution_status = "CREATE_COMPLETE", "AVAILABLE"
            change_set.status_reason = None
        else:
            change_set.status, change_set.execution_status = "FAILED", "UNAVAILABLE"
            change_set.status_reason = NO_CHANGES
        _kept(backend, _REVERTS)[change_set_id] = stack.stack_id
        return ActionResult({"Id": change_set_id, "StackId": stack_id})

    create.__name__ = handler.__name__
    return create


def _execute_change_set(handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Executing a REVERT_DRIFT change set writes the drifted properties back and ends as an
    update of the stack (its events say so); the template stays as it is, so no UpdateStack
    runs (it would find nothing to do). Other change sets go on as before."""

    def execute(response: Any) -> Any:
        backend = response.cloudformation_backend
        change_set = backend.describe_change_set(response._get_param("ChangeSetName"))
        change_set_id = getattr(change_set, "change_set_id", None)
        stack_id = _kept(backend, _REVERTS).pop(str(change_set_id), None)
        if stack_id is None:
            return handler(response)
        from moto.core.responses import EmptyResult

        stack = backend.get_stack(stack_id)
        stack._add_stack_event("UPDATE_IN_PROGRESS", resource_status_reason="User Initiated")
        revert(stack)
        stack.status = "UPDATE_COMPLETE"
        stack._add_stack_event("UPDATE_COMPLETE")
        change_set.execution_status = "EXECUTE_COMPLETE"
        return EmptyResult()

    execute.__name__ = handler.__name__
    return execute


@installs_once
def install() -> None:
    from moto.cloudformation.responses import CloudFormationResponse as Response

    Response.detect_stack_drift = _detect_stack_drift  # type: ignore[attr-defined]
    Response.describe_stack_drift_detection_status = (  # type: ignore[attr-defined]
        _describe_stack_drift_detection_status
    )
    Response.describe_stack_resource_drifts = (  # type: ignore[attr-defined]
        _describe_stack_resource_drifts
    )
    Response.detect_stack_resource_drift = _detect_stack_resource_drift  # type: ignore[attr-defined]
    Response.create_change_set = _create_change_set(Response.create_change_set)  # type: ignore[method-assign, assignment]
    Response.execute_change_set = _execute_change_set(Response.execute_change_set)  # type: ignore[method-assign, assignment]
