"""CloudFormation's own drift detection, the same calls on AWS and in the local cloud
(cloud/stack_drift.py): DetectStackDrift, then DescribeStackDriftDetectionStatus until it
ends, then DescribeStackResourceDrifts."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from baryon.domain.drift import CheckMethod, DriftKind, Observation, ObservedDrift

IN_PROGRESS = "DETECTION_IN_PROGRESS"
FAILED = "DETECTION_FAILED"
# A stack has at most 500 resources; these bound the pages read whatever a cloud answers.
PAGES_MAX = 50
_NOT_CHECKED = frozenset({"NOT_CHECKED", "UNKNOWN", "UNSUPPORTED"})


class DetectionFailed(Exception):
    """CloudFormation's detection did not run to the end; the message is its reason."""


def detect(
    client: Any,
    stack_name: str,
    *,
    timeout: float,
    heartbeat: Callable[[], None],
    poll: float = 1.0,
) -> Observation:
    """One drift detection of ``stack_name``; raises DetectionFailed, or the client's errors."""
    detection_id = client.detect_stack_drift(StackName=stack_name)["StackDriftDetectionId"]
    deadline = time.monotonic() + timeout
    delay = poll
    while True:
        status = client.describe_stack_drift_detection_status(StackDriftDetectionId=detection_id)
        if status["DetectionStatus"] != IN_PROGRESS:
            break
        if time.monotonic() > deadline:
            raise DetectionFailed(f"drift detection of {stack_name} took over {timeout:.0f} s")
        heartbeat()
        time.sleep(delay)
        delay = min(delay * 2, 15.0)
    if status["DetectionStatus"] == FAILED and not status.get("StackDriftStatus"):
        raise DetectionFailed(status.get("DetectionStatusReason") or "detection failed")
    return _observation(_resource_drifts(client, stack_name))


def _resource_drifts(client: Any, stack_name: str) -> list[dict[str, Any]]:
    drifts: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(PAGES_MAX):
        arguments: dict[str, Any] = {"StackName": stack_name}
        if token:
            arguments["NextToken"] = token
        page = client.describe_stack_resource_drifts(**arguments)
        drifts += page.get("StackResourceDrifts", [])
        token = page.get("NextToken")
        if not token:
            break
    return drifts


def _observation(resource_drifts: list[dict[str, Any]]) -> Observation:
    checked = not_checked = 0
    found: list[ObservedDrift] = []
    for drift in resource_drifts:
        status = drift.get("StackResourceDriftStatus", "UNKNOWN")
        if status in _NOT_CHECKED:
            not_checked += 1
            continue
        checked += 1
        logical_id = drift.get("LogicalResourceId", "")
        resource_type = drift.get("ResourceType", "")
        physical_id = drift.get("PhysicalResourceId")
        if status == "DELETED":
            found.append(
                ObservedDrift(
                    logical_id, resource_type, physical_id, "/",
                    _compact(drift.get("ExpectedProperties")), None, DriftKind.DELETED,
                )
            )  # fmt: skip
            continue
        for difference in drift.get("PropertyDifferences") or []:
            found.append(
                ObservedDrift(
                    logical_id,
                    resource_type,
                    physical_id,
                    difference.get("PropertyPath", ""),
                    difference.get("ExpectedValue"),
                    difference.get("ActualValue"),
                    DriftKind(difference.get("DifferenceType", "NOT_EQUAL")),
                )
            )
    return Observation(CheckMethod.CLOUDFORMATION, checked, not_checked, tuple(found))


def _compact(properties: str | None) -> str | None:
    if not properties:
        return None
    try:
        return json.dumps(json.loads(properties), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return properties
