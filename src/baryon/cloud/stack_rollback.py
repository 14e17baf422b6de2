"""Putting a stack back as it was before an update: for a failed update, a cancel, or a
ContinueUpdateRollback.

moto has no rollback of its own, so the local cloud re-applies the previous template,
parameters and tags through moto's update path. When that fails too, the stack is left
UPDATE_ROLLBACK_FAILED and keeps a `PendingRollback` (a plain attribute, so it rides in the
state snapshot) from which ContinueUpdateRollback tries again, skipping the resources the
caller names, as AWS does: only a resource whose rollback failed may be skipped, and once
skipped it counts as rolled back, so a later continue does not try it again.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

PENDING_ROLLBACK_ATTRIBUTE = "baryon_pending_rollback"


@dataclass
class PreviousStack:
    """What an update replaced, so that a rollback can put it back."""

    template: Any
    parameters: dict[str, Any]
    role_arn: str | None
    tags: dict[str, str]


@dataclass(frozen=True)
class PendingRollback:
    """A rollback that failed: where it was going, and the resources as the update left them.

    ``left_behind`` is moto's view of the resources' definitions after the failed update;
    the first rollback attempt overwrote it, and a continue must diff against it again so
    that the resources which did not roll back are tried once more.
    """

    previous: PreviousStack
    left_behind: dict[str, Any]
    # The resources whose rollback failed (UPDATE_FAILED): all that ResourcesToSkip may name.
    # A default, so that a pending rollback from an older state snapshot still loads.
    failed: frozenset[str] = frozenset()

    def not_skippable(self, skip: Collection[str]) -> list[str]:
        """The ids in ``skip`` that AWS would refuse: their rollback did not fail."""
        return [logical_id for logical_id in skip if logical_id not in self.failed]

    def failing(self, failed: Collection[str]) -> PendingRollback:
        return replace(self, failed=frozenset(failed))

    def skipping(self, stack: Any, skip: Collection[str]) -> PendingRollback:
        """Counts the skipped resources as rolled back: the update left them as the previous
        template defines them, so no later continue diffs them, or tries them, again."""
        before = _resources(stack, self.previous.template)
        left_behind = dict(self.left_behind)
        for logical_id in skip:
            if logical_id in before:
                left_behind[logical_id] = copy.deepcopy(before[logical_id])
            else:
                left_behind.pop(logical_id, None)  # added by the update: nothing to put back
        return replace(self, left_behind=left_behind, failed=self.failed - set(skip))


def previous_of(stack: Any) -> PreviousStack:
    return PreviousStack(stack.template, dict(stack.parameters), stack.role_arn, dict(stack.tags))


def definitions(stack: Any) -> dict[str, Any]:
    """moto's current resource definitions, copied so that later updates cannot change them."""
    return copy.deepcopy(dict(stack.resource_map._resource_json_map))


def pending_rollback(stack: Any) -> PendingRollback | None:
    pending = getattr(stack, PENDING_ROLLBACK_ATTRIBUTE, None)
    return pending if isinstance(pending, PendingRollback) else None


def keep_pending(stack: Any, pending: PendingRollback) -> None:
    setattr(stack, PENDING_ROLLBACK_ATTRIBUTE, pending)


def drop_pending(stack: Any) -> None:
    if hasattr(stack, PENDING_ROLLBACK_ATTRIBUTE):
        delattr(stack, PENDING_ROLLBACK_ATTRIBUTE)


def restore_left_behind(stack: Any, pending: PendingRollback) -> None:
    """Makes moto diff against the resources as the failed update left them, so that a
    continued rollback tries again the ones that did not roll back."""
    stack.resource_map._resource_json_map = copy.deepcopy(pending.left_behind)


def forget_removed(stack: Any, before: set[str]) -> None:
    """moto deletes a removed resource but keeps its object, so adding the logical id back
    later would "create" nothing; forgetting it makes the next add create it again."""
    resources = stack.resource_map
    for logical_id in before - set(resources._resource_json_map):
        resources._parsed_resources.pop(logical_id, None)


def reapply(stack: Any, previous: PreviousStack, skip: Collection[str] = ()) -> Exception | None:
    """Puts the previous template back through moto's own update path, without its events.

    A skipped resource keeps the definition it has now, so moto leaves it alone; afterwards
    the stack records the previous definition for it, as AWS does: the resource is taken to
    be as the previous template says.
    """
    count, before = len(stack.events), set(stack.resource_map._resource_json_map)
    template = _with_current(stack, previous.template, skip) if skip else previous.template
    try:
        stack.update(
            template, previous.role_arn, parameters=previous.parameters, tags=previous.tags
        )
    except Exception as exc:
        return exc
    finally:
        forget_removed(stack, before)
        del stack.events[count:]
        # moto keeps the newer parameters when the previous ones are empty.
        stack.parameters = dict(previous.parameters)
        stack.resource_map.input_parameters = dict(previous.parameters)
        if skip:
            _record_previous_definitions(stack, previous)
    return None


def _resources(stack: Any, template: Any) -> dict[str, Any]:
    parsed = stack.parse_template(template) if isinstance(template, str) else template
    return dict(parsed.get("Resources", {}))


def _with_current(stack: Any, template: Any, skip: Collection[str]) -> str:
    """The previous template, with each skipped resource as the stack defines it now."""
    parsed = copy.deepcopy(
        stack.parse_template(template) if isinstance(template, str) else template
    )
    current = stack.resource_map._resource_json_map
    resources = parsed.setdefault("Resources", {})
    for logical_id in skip:
        if logical_id in resources and logical_id in current:
            resources[logical_id] = copy.deepcopy(current[logical_id])
    return json.dumps(parsed, default=str)


def _record_previous_definitions(stack: Any, previous: PreviousStack) -> None:
    stack.template = previous.template
    stack._parse_template()
    stack.resource_map._template = stack.template_dict
    stack.resource_map._resource_json_map = stack.template_dict.get("Resources", {})
