"""The local cloud's change sets as AWS describes and executes them.

moto keeps change sets but says little about them: each change names only its action and
resource (no ``Replacement``, ``Scope``, ``Details`` or ``PolicyAction``), executing one
applies it inside the request without the timed lifecycle, rollback or checks UpdateStack has
here (`cloudformation_timing`), and a change set never goes stale. Fleet previews
(domain/fleet_previews.py) rest on exactly those facts, so here:

- CreateChangeSet (UPDATE) describes each changed resource as AWS does: ``Modify`` with one
  detail per changed property; a property the type's published schema lists as create-only
  (`resource_schemas`) requires recreation, so the change is ``Replacement: True`` (or
  ``Conditional`` when the new value is only known at deploy time: an intrinsic function) and
  its ``PolicyAction`` says what happens to the old resource (ReplaceAndDelete unless its
  UpdateReplacePolicy keeps it); ``Remove`` carries Delete (or the DeletionPolicy's Retain /
  Snapshot). The stack's template at creation is remembered.
- CreateChangeSet refuses a second change set of the same name on one stack
  (AlreadyExistsException), as AWS does; moto would make another. DeleteChangeSet of one
  that is gone says ChangeSetNotFound (moto fails with an internal error).
- ExecuteChangeSet of an UPDATE change set runs as that very UpdateStack request (the same
  checks, timing, failure and rollback), marks the change set EXECUTE_COMPLETE and leaves its
  ARN as the stack's ``ChangeSetId``; a plain UpdateStack clears it. A change set whose stack
  changed since it was created is OBSOLETE and refused, as on AWS.

Installed in the cloud's own process, before the other CloudFormation patches wrap UpdateStack.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from baryon.cloud import resource_schemas
from baryon.cloud.patching import installs_once

OBSOLETE = "OBSOLETE"
AVAILABLE = "AVAILABLE"
_BASE_ATTRIBUTE = "baryon_base_template"
# Set while ExecuteChangeSet runs its UpdateStack, so that update does not clear ChangeSetId.
_executing = threading.local()
# Where a detail's value is known only at deploy time.
_INTRINSICS = ("Ref", "Fn::")
_REPLACE_POLICY = {"Retain": "ReplaceAndRetain", "Snapshot": "ReplaceAndSnapshot"}
_DELETE_POLICY = {"Retain": "Retain", "Snapshot": "Snapshot"}
_SCOPES = {
    "Properties": "Properties",
    "Metadata": "Metadata",
    "CreationPolicy": "CreationPolicy",
    "UpdatePolicy": "UpdatePolicy",
    "DeletionPolicy": "DeletionPolicy",
    "UpdateReplacePolicy": "UpdateReplacePolicy",
}


class DescribedChange:
    """One ResourceChange as AWS shapes it; moto's serializer reads its attributes."""

    def __init__(
        self,
        action: str,
        logical_resource_id: str,
        resource_type: str,
        *,
        physical_resource_id: str | None = None,
        replacement: str | None = None,
        scope: list[str] | None = None,
        details: list[dict[str, Any]] | None = None,
        policy_action: str | None = None,
    ) -> None:
        self.action = action
        self.logical_resource_id = logical_resource_id
        self.resource_type = resource_type
        self.physical_resource_id = physical_resource_id
        self.replacement = replacement
        self.scope = scope or []
        self.details = details or []
        self.policy_action = policy_action


@installs_once
def install() -> None:
    from moto.cloudformation import models, responses

    change_set_class: Any = models.ChangeSet
    response_class: Any = responses.CloudFormationResponse
    moto_init = change_set_class.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        moto_init(self, *args, **kwargs)
        setattr(self, _BASE_ATTRIBUTE, self.stack.template)

    change_set_class.__init__ = init
    change_set_class.diff = lambda self: describe_changes(self.stack, self.template_dict)
    response_class.execute_change_set = _execute_change_set
    response_class.create_change_set = _refusing_same_name(response_class.create_change_set)
    response_class.delete_change_set = _not_found_when_gone(response_class.delete_change_set)
    response_class.describe_change_set = _with_obsolescence(response_class.describe_change_set)
    # Must wrap moto's own UpdateStack before the timing patch wraps it: it clears the
    # ChangeSetId of a plain update.
    update = response_class.update_stack
    response_class.update_stack = lambda self: _plain_update(self, update)


# --- describing ----------------------------------------------------------------------------


def describe_changes(stack: Any, template: dict[str, Any]) -> list[DescribedChange]:
    """What applying ``template`` to ``stack`` changes, resource by resource."""
    before = _resources(getattr(stack, "template_dict", None) or {})
    after = _resources(template)
    region = getattr(stack, "region_name", resource_schemas.DEFAULT_REGION)
    changes: list[DescribedChange] = []
    for logical_id, definition in after.items():
        old = before.get(logical_id)
        resource_type = str(definition.get("Type", ""))
        if old is None:
            changes.append(DescribedChange("Add", logical_id, resource_type))
        elif old != definition:
            changes.append(_modified(stack, logical_id, old, definition, region))
    for logical_id, old in before.items():
        if logical_id not in after:
            policy = _DELETE_POLICY.get(str(old.get("DeletionPolicy")), "Delete")
            changes.append(
                DescribedChange(
                    "Remove",
                    logical_id,
                    str(old.get("Type", "")),
                    physical_resource_id=_physical_id(stack, logical_id),
                    policy_action=policy,
                )
            )
    return changes


def _resources(template: Any) -> dict[str, dict[str, Any]]:
    resources = template.get("Resources") if isinstance(template, dict) else None
    if not isinstance(resources, dict):
        return {}
    return {str(k): v for k, v in resources.items() if isinstance(v, dict)}


def _modified(
    stack: Any, logical_id: str, old: dict[str, Any], new: dict[str, Any], region: str
) -> DescribedChange:
    resource_type = str(new.get("Type", ""))
    schema = resource_schemas.resource_type(resource_type, region)
    create_only = schema.create_only if schema is not None else frozenset()
    details: list[dict[str, Any]] = []
    scopes: list[str] = []
    old_properties = old.get("Properties") or {}
    new_properties = new.get("Properties") or {}
    for name in sorted(set(old_properties) | set(new_properties)):
        if old_properties.get(name) == new_properties.get(name):
            continue
        scope = "Tags" if name == "Tags" else "Properties"
        if scope not in scopes:
            scopes.append(scope)
        recreation = "Always" if name in create_only else "Never"
        details.append(
            _detail(scope, name, recreation, old_properties.get(name), new_properties.get(name))
        )
    for attribute, scope in _SCOPES.items():
        if attribute != "Properties" and old.get(attribute) != new.get(attribute):
            scopes.append(scope)
            details.append(_detail(scope, None, "Never", old.get(attribute), new.get(attribute)))
    replacement = _replacement(details)
    policy_action = None
    if replacement == "True":
        policy_action = _REPLACE_POLICY.get(str(new.get("UpdateReplacePolicy")), "ReplaceAndDelete")
    return DescribedChange(
        "Modify",
        logical_id,
        resource_type,
        physical_resource_id=_physical_id(stack, logical_id),
        replacement=replacement,
        scope=scopes,
        details=details,
        policy_action=policy_action,
    )


def _detail(
    attribute: str, name: str | None, recreation: str, before: Any, after: Any
) -> dict[str, Any]:
    target: dict[str, Any] = {"Attribute": attribute, "RequiresRecreation": recreation}
    if name is not None:
        target["Name"] = name
        target["Path"] = f"/{attribute if attribute != 'Tags' else 'Properties'}/{name}"
    if before is None:
        target["AttributeChangeType"] = "Add"
    elif after is None:
        target["AttributeChangeType"] = "Remove"
    else:
        target["AttributeChangeType"] = "Modify"
    if before is not None:
        target["BeforeValue"] = _text(before)
    if after is not None:
        target["AfterValue"] = _text(after)
    dynamic = _is_dynamic(after)
    return {
        "Target": target,
        "Evaluation": "Dynamic" if dynamic else "Static",
        "ChangeSource": "DirectModification",
    }


def _replacement(details: list[dict[str, Any]]) -> str:
    """AWS's rule: Always+Static is True, Always+Dynamic Conditional; the most impact wins."""
    verdict = "False"
    for detail in details:
        if detail["Target"]["RequiresRecreation"] != "Always":
            continue
        if detail["Evaluation"] == "Static":
            return "True"
        verdict = "Conditional"
    return verdict


def _is_dynamic(value: Any) -> bool:
    if isinstance(value, dict):
        return any(str(k).startswith(_INTRINSICS) for k in value) or any(
            _is_dynamic(v) for v in value.values()
        )
    if isinstance(value, list):
        return any(_is_dynamic(v) for v in value)
    return False


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _physical_id(stack: Any, logical_id: str) -> str | None:
    parsed = getattr(stack.resource_map, "_parsed_resources", {}).get(logical_id)
    identifier = getattr(parsed, "physical_resource_id", None)
    return str(identifier) if identifier is not None else None


# --- staleness and execution ---------------------------------------------------------------


def _obsolete(change_set: Any) -> bool:
    """The stack changed since the change set was made from it (AWS: OBSOLETE)."""
    stack = change_set.stack
    base = getattr(change_set, _BASE_ATTRIBUTE, None)
    return (
        change_set.change_set_type == "UPDATE"
        and change_set.execution_status == AVAILABLE
        and base is not None
        and stack.template != base
    )


def _with_obsolescence(describe: Any) -> Any:
    def described(response: Any) -> Any:
        backend = response.cloudformation_backend
        change_set = _find(backend, response._get_param("ChangeSetName"))
        if change_set is not None and _obsolete(change_set):
            change_set.execution_status = OBSOLETE
        return describe(response)

    return described


def _find(backend: Any, name_or_arn: str | None) -> Any:
    if not name_or_arn:
        return None
    found = backend.change_sets.get(name_or_arn)
    if found is not None:
        return found
    for change_set in backend.change_sets.values():
        if change_set.change_set_name == name_or_arn:
            return change_set
    return None


def _execute_change_set(response: Any) -> Any:
    from moto.cloudformation.exceptions import CloudFormationError, ValidationError
    from moto.core.responses import EmptyResult

    backend = response.cloudformation_backend
    name = response._get_param("ChangeSetName")
    change_set = _find(backend, name)
    if change_set is None:
        raise _error(CloudFormationError, "ChangeSetNotFound", f"ChangeSet [{name}] does not exist")
    if _obsolete(change_set):
        change_set.execution_status = OBSOLETE
    if change_set.execution_status != AVAILABLE:
        raise _error(
            CloudFormationError,
            "InvalidChangeSetStatus",
            f"ChangeSet [{change_set.change_set_id}] cannot be executed in its current "
            f"execution status of [{change_set.execution_status}]",
        )
    stack = change_set.stack
    if change_set.change_set_type != "UPDATE" or _same(stack, change_set):
        # A change set that creates the stack, or one that changes no template (a drift
        # revert, `stack_drift`): moto's own execution is all there is to it.
        backend.execute_change_set(change_set_name=change_set.change_set_id)
        change_set.stack.change_set_id = change_set.change_set_id
        return EmptyResult()
    if stack.status.endswith("_IN_PROGRESS"):
        raise ValidationError(
            message=f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated."
        )
    # The change set's own request, as UpdateStack takes it: the same checks, timing,
    # failure and rollback as any update of this stack.
    response.params = {
        "StackName": stack.stack_id,
        "TemplateBody": change_set.template,
        "Parameters": [
            {"ParameterKey": k, "ParameterValue": v}
            for k, v in (change_set.parameters or {}).items()
        ],
        "Tags": [{"Key": k, "Value": v} for k, v in (change_set.tags or {}).items()],
    }
    if change_set.role_arn:
        response.params["RoleARN"] = change_set.role_arn
    _executing.active = True
    try:
        response.update_stack()
    finally:
        _executing.active = False
    change_set.execution_status = "EXECUTE_COMPLETE"
    stack.change_set_id = change_set.change_set_id
    for other in backend.change_sets.values():
        if other is not change_set and other.stack is stack and other.execution_status == AVAILABLE:
            other.execution_status = OBSOLETE
    return EmptyResult()


def _refusing_same_name(create: Any) -> Any:
    def created(response: Any) -> Any:
        from moto.cloudformation.exceptions import AlreadyExistsException

        name = response._get_param("ChangeSetName")
        stack_name = response._get_param("StackName")
        for change_set in response.cloudformation_backend.change_sets.values():
            stack = change_set.stack
            if change_set.change_set_name == name and stack_name in (
                stack.name,
                stack.stack_id,
            ):
                raise AlreadyExistsException(f"ChangeSet {name} already exists")
        return create(response)

    return created


def _not_found_when_gone(delete: Any) -> Any:
    def deleted(response: Any) -> Any:
        from moto.cloudformation.exceptions import CloudFormationError

        name = response._get_param("ChangeSetName")
        if _find(response.cloudformation_backend, name) is None:
            raise _error(
                CloudFormationError, "ChangeSetNotFound", f"ChangeSet [{name}] does not exist"
            )
        return delete(response)

    return deleted


def _error(base: Any, code: str, message: str) -> Exception:
    """One of moto's CloudFormation errors with AWS's code (moto has no class for these)."""
    error: Exception = type(code, (base,), {"code": code})(message)
    return error


def _same(stack: Any, change_set: Any) -> bool:
    try:
        return bool(stack.has_template(change_set.template)) and dict(stack.parameters) == dict(
            change_set.parameters or {}
        )
    except Exception:  # an unreadable template is not the same one
        return False


def _plain_update(response: Any, update: Any) -> Any:
    result = update(response)
    if not getattr(_executing, "active", False):
        stack = response.cloudformation_backend.get_stack(response._get_param("StackName"))
        stack.change_set_id = None
    return result
