"""The roles Proton's stacks name (RoleARN): will CloudFormation still accept them?

A stack created with a service role (``RoleARN``) is updated as that role, and CloudFormation
assumes it: the role must trust ``cloudformation.amazonaws.com``. Proton's documented service
roles trust only ``proton.amazonaws.com`` (reference proton-migration.md 2.4), so a stack that
names one would refuse Baryon's first update. Reading a role's trust policy only reads IAM;
a role that cannot be read is not reported (the plan says nothing it does not know).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import BotoCoreError, ClientError

from baryon.importing.stacks import DiscoveredStack

CLOUDFORMATION = "cloudformation.amazonaws.com"
_MISSING = {"NoSuchEntity", "NoSuchEntityException"}


def trusted_services(document: Mapping[str, Any] | str) -> set[str]:
    """The service principals a trust policy allows to assume the role."""
    if isinstance(document, str):  # IAM's API returns it URL-encoded; boto3 may decode it
        try:
            document = json.loads(unquote(document))
        except ValueError:
            return set()
    statements = document.get("Statement") if isinstance(document, Mapping) else None
    if isinstance(statements, Mapping):
        statements = [statements]
    found: set[str] = set()
    for statement in statements or []:
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        services = principal.get("Service") if isinstance(principal, Mapping) else None
        if isinstance(services, str):
            services = [services]
        found.update(s for s in services or [] if isinstance(s, str))
    return found


def role_problems(iam: Any, stacks: Iterable[DiscoveredStack]) -> dict[str, str]:
    """Stack id -> what to change, for each stack whose RoleARN CloudFormation would refuse
    to assume for an update."""
    seen: dict[str, str | None] = {}
    problems: dict[str, str] = {}
    for stack in stacks:
        role = stack.role_arn
        if not role:
            continue
        if role not in seen:
            seen[role] = _problem(iam, role)
        if seen[role] is not None:
            problems[stack.stack_id] = str(seen[role])
    return problems


def _problem(iam: Any, role: str) -> str | None:
    name = role.rsplit("/", 1)[-1]
    try:
        document = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code", "")) in _MISSING:
            return (
                f"its stack's RoleARN {role} no longer exists, so CloudFormation will refuse "
                "its next update: update the stack with a role that trusts "
                f"{CLOUDFORMATION} (aws cloudformation update-stack --use-previous-template "
                "--role-arn ...)"
            )
        return None
    except BotoCoreError:
        return None
    services = trusted_services(document)
    if CLOUDFORMATION in services:
        return None
    trusted = ", ".join(sorted(services)) or "no service"
    return (
        f"its stack's RoleARN {role} trusts {trusted}, not {CLOUDFORMATION}, so CloudFormation "
        f"will refuse its next update: add {CLOUDFORMATION} to that role's trust policy "
        "(aws iam update-assume-role-policy)"
    )
