"""The account's Proton stacks, read through a CloudFormation client the caller hands in.

Proton named its stacks ``AWSProton-...`` and tagged what it provisioned ``proton:*``
(reference proton-migration.md 2.1, 2.3); either makes a stack a candidate. Nothing here
changes the account: it only describes stacks, lists their resources and reads a template.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from baryon.importing.errors import StackReadError
from baryon.importing.limits import ExportLimits

PROTON_PREFIX = "AWSProton-"
PROTON_TAG_PREFIX = "proton:"
GONE = "DELETE_COMPLETE"
# What a stack must be in for a resource to adopt it: settled and holding what it runs.
ADOPTABLE = frozenset(
    {
        "CREATE_COMPLETE",
        "UPDATE_COMPLETE",
        "UPDATE_ROLLBACK_COMPLETE",
        "IMPORT_COMPLETE",
        "IMPORT_ROLLBACK_COMPLETE",
    }
)


@dataclass(frozen=True)
class StackResource:
    logical_id: str
    physical_id: str
    type: str


@dataclass(frozen=True)
class DiscoveredStack:
    name: str
    stack_id: str
    status: str
    tags: Mapping[str, str]
    outputs: Mapping[str, str]
    parameters: Mapping[str, str]
    role_arn: str | None
    resources: tuple[StackResource, ...]
    # When CloudFormation made it and last changed it: what an import from the account alone
    # knows of the resource's deployments.
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def adoptable(self) -> bool:
        return self.status in ADOPTABLE

    @property
    def proton_tags(self) -> dict[str, str]:
        return {k: v for k, v in self.tags.items() if k.startswith(PROTON_TAG_PREFIX)}


def discover_stacks(cloudformation: Any, limits: ExportLimits) -> list[DiscoveredStack]:
    """Every live stack named like Proton's or carrying a ``proton:*`` tag, with its
    resources. Raises StackReadError when the account cannot be read."""
    found: list[DiscoveredStack] = []
    try:
        for page in cloudformation.get_paginator("describe_stacks").paginate():
            for stack in page.get("Stacks") or []:
                if stack.get("StackStatus") == GONE:
                    continue
                tags = {t["Key"]: t["Value"] for t in stack.get("Tags") or []}
                if not stack["StackName"].startswith(PROTON_PREFIX) and not any(
                    key.startswith(PROTON_TAG_PREFIX) for key in tags
                ):
                    continue
                if len(found) >= limits.max_stacks:
                    raise StackReadError(
                        f"the account holds more than {limits.max_stacks:,} Proton stacks"
                    )
                found.append(_stack(cloudformation, stack, tags, limits))
    except (ClientError, BotoCoreError) as exc:
        raise StackReadError(f"reading the account's stacks failed: {exc}") from exc
    return sorted(found, key=lambda s: s.name)


def _stack(
    cloudformation: Any, stack: Mapping[str, Any], tags: dict[str, str], limits: ExportLimits
) -> DiscoveredStack:
    resources: list[StackResource] = []
    paginator = cloudformation.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=stack["StackId"]):
        for row in page.get("StackResourceSummaries") or []:
            resources.append(
                StackResource(
                    row.get("LogicalResourceId", ""),
                    row.get("PhysicalResourceId", ""),
                    row.get("ResourceType", ""),
                )
            )
            if len(resources) > limits.max_stack_resources:
                raise StackReadError(
                    f"stack {stack['StackName']} holds more than "
                    f"{limits.max_stack_resources:,} resources"
                )
    return DiscoveredStack(
        name=stack["StackName"],
        stack_id=stack["StackId"],
        status=stack["StackStatus"],
        tags=tags,
        outputs={o["OutputKey"]: str(o.get("OutputValue", "")) for o in stack.get("Outputs") or []},
        parameters={
            p["ParameterKey"]: str(p.get("ParameterValue", ""))
            for p in stack.get("Parameters") or []
        },
        role_arn=stack.get("RoleARN"),
        resources=tuple(resources),
        created_at=stack.get("CreationTime"),
        updated_at=stack.get("LastUpdatedTime"),
    )


def deployed_template(cloudformation: Any, stack: DiscoveredStack, limits: ExportLimits) -> str:
    """The template the stack runs now (GetTemplate, Original stage: as it was submitted)."""
    try:
        answer = cloudformation.get_template(StackName=stack.stack_id, TemplateStage="Original")
    except (ClientError, BotoCoreError) as exc:
        raise StackReadError(f"reading the template of stack {stack.name} failed: {exc}") from exc
    body = answer.get("TemplateBody")
    # boto3 hands a JSON template back parsed; written out again it means the same.
    text = body if isinstance(body, str) else json.dumps(body, indent=2)
    if len(text.encode()) > limits.max_template_bytes:
        raise StackReadError(
            f"the template of stack {stack.name} is larger than {limits.max_template_bytes:,} bytes"
        )
    return text
