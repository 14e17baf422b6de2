"""Which stack belongs to which exported Proton resource.

In order of trust (reference proton-migration.md 2.2, "do not rebuild names"):

1. the stack's ``proton:*`` tags name the resource (Proton tagged what it provisioned);
2. the resource's exported provisioned resources name the stack, or a resource in it;
3. the stack's name has the resource's pattern: ``AWSProton-<name[:15]>-cloudformation-``
   for an environment or a pipeline (whose name is its service's), and
   ``AWSProton-<service[:15]>-<instance[:15]>-cloudformation`` for an instance. Components'
   stack names were never seen, so only tags and identifiers find theirs.

A stack that tags give to one resource is not another's by identifiers or name. When a step
finds more than one stack, or a stack fits more than one resource by its name, the match is
reported as ambiguous, never guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from baryon.importing.proton_export import ExportedProvisionedResource, ProtonExport, StackOwner
from baryon.importing.stacks import PROTON_PREFIX, DiscoveredStack
from baryon.service_models.proton import DeploymentTargetResourceType

Kind = DeploymentTargetResourceType
# Proton cut each name to this many characters in a stack name.
NAME_CUT = 15


class MatchedBy(StrEnum):
    TAGS = "TAGS"
    PROVISIONED_RESOURCES = "PROVISIONED_RESOURCES"
    NAME = "NAME"


@dataclass(frozen=True)
class ExportedResource:
    """A Proton resource that had a stack: its kind, ARN and names."""

    type: Kind
    arn: str
    names: tuple[str, ...]  # (environment,), (service, instance), (service,), (component,)
    owner: StackOwner
    provisioned: tuple[ExportedProvisionedResource, ...] | None

    @property
    def label(self) -> str:
        word = {
            Kind.ENVIRONMENT: "environment",
            Kind.SERVICE_INSTANCE: "service instance",
            Kind.SERVICE_PIPELINE: "pipeline of service",
            Kind.COMPONENT: "component",
        }[self.type]
        return f"{word} {'/'.join(self.names)}"


@dataclass(frozen=True)
class StackMatch:
    stack: DiscoveredStack | None
    matched_by: MatchedBy | None
    problem: str | None  # why there is no stack: not found, or ambiguous (which ones)
    # The stacks an ambiguous match hesitated between.
    candidates: tuple[str, ...] = ()


def exported_resources(export: ProtonExport) -> list[ExportedResource]:
    """Every resource of the export that a stack may hold."""
    found: list[ExportedResource] = []
    for environment in export.environments:
        found.append(
            ExportedResource(
                Kind.ENVIRONMENT,
                environment.arn,
                (environment.name,),
                StackOwner(Kind.ENVIRONMENT, environment.arn),
                environment.deployed.provisioned_resources,
            )
        )
    for service in export.services:
        for instance in service.instances:
            found.append(
                ExportedResource(
                    Kind.SERVICE_INSTANCE,
                    instance.arn,
                    (service.name, instance.name),
                    StackOwner(Kind.SERVICE_INSTANCE, instance.arn),
                    instance.deployed.provisioned_resources,
                )
            )
        if service.pipeline is not None:
            found.append(
                ExportedResource(
                    Kind.SERVICE_PIPELINE,
                    service.pipeline.arn,
                    (service.name,),
                    StackOwner(Kind.SERVICE_PIPELINE, service.arn),
                    service.pipeline.deployed.provisioned_resources,
                )
            )
    for component in export.components:
        found.append(
            ExportedResource(
                Kind.COMPONENT,
                component.arn,
                (component.name,),
                StackOwner(Kind.COMPONENT, component.arn),
                component.deployed.provisioned_resources,
            )
        )
    return found


def stack_owner(stack: DiscoveredStack) -> StackOwner | None:
    """The resource a stack's tags say it holds: the most specific tag wins (an instance's
    stack carries its environment's and service's tags too)."""
    tags = stack.tags
    if "proton:component" in tags:
        return StackOwner(Kind.COMPONENT, tags["proton:component"])
    if "proton:service-instance" in tags:
        return StackOwner(Kind.SERVICE_INSTANCE, tags["proton:service-instance"])
    if "proton:service" in tags:
        return StackOwner(Kind.SERVICE_PIPELINE, tags["proton:service"])
    if "proton:environment" in tags:
        return StackOwner(Kind.ENVIRONMENT, tags["proton:environment"])
    return None


def name_prefix(resource: ExportedResource) -> str | None:
    """The start of the stack name Proton gave the resource; None when unknown."""
    cut = [name[:NAME_CUT] for name in resource.names]
    if resource.type in (Kind.ENVIRONMENT, Kind.SERVICE_PIPELINE):
        return f"{PROTON_PREFIX}{cut[0]}-cloudformation-"
    if resource.type == Kind.SERVICE_INSTANCE:
        return f"{PROTON_PREFIX}{cut[0]}-{cut[1]}-cloudformation"
    return None


@dataclass(frozen=True)
class Matches:
    by_arn: dict[str, StackMatch]
    # Proton stacks no exported resource claims, with what their tags say.
    unclaimed: tuple[DiscoveredStack, ...]


def match_stacks(
    resources: Sequence[ExportedResource], stacks: Sequence[DiscoveredStack]
) -> Matches:
    owners = {stack.stack_id: stack_owner(stack) for stack in stacks}
    untagged = [stack for stack in stacks if owners[stack.stack_id] is None]
    result: dict[str, StackMatch] = {}
    by_name: list[ExportedResource] = []
    for resource in resources:
        by_tags = [stack for stack in stacks if owners[stack.stack_id] == resource.owner]
        by_identifiers = _by_identifiers(resource, untagged)
        if by_tags:
            result[resource.arn] = _one(resource, by_tags, MatchedBy.TAGS, "tags")
        elif by_identifiers:
            result[resource.arn] = _one(
                resource, by_identifiers, MatchedBy.PROVISIONED_RESOURCES, "provisioned resources"
            )
        else:
            by_name.append(resource)
    taken = {m.stack.stack_id for m in result.values() if m.stack is not None}
    free = [stack for stack in untagged if stack.stack_id not in taken]
    for resource in by_name:
        result[resource.arn] = _by_name(resource, by_name, free)
    _refuse_shared_stacks(resources, result)
    involved = {name for match in result.values() for name in match.candidates} | {
        match.stack.name for match in result.values() if match.stack is not None
    }
    unclaimed = tuple(stack for stack in stacks if stack.name not in involved)
    return Matches(result, unclaimed)


def _refuse_shared_stacks(
    resources: Sequence[ExportedResource], result: dict[str, StackMatch]
) -> None:
    """One stack found for two resources (their exported identifiers overlap) is neither's."""
    holders: dict[str, list[ExportedResource]] = {}
    for resource in resources:
        match = result[resource.arn]
        if match.stack is not None:
            holders.setdefault(match.stack.stack_id, []).append(resource)
    for sharing in holders.values():
        if len(sharing) < 2:
            continue
        stack = result[sharing[0].arn].stack
        assert stack is not None
        labels = ", ".join(resource.label for resource in sharing)
        for resource in sharing:
            result[resource.arn] = StackMatch(
                None,
                None,
                f"ambiguous: stack {stack.name} is found for {labels}",
                (stack.name,),
            )


def _one(
    resource: ExportedResource, found: list[DiscoveredStack], how: MatchedBy, words: str
) -> StackMatch:
    if len(found) == 1:
        return StackMatch(found[0], how, None)
    names = tuple(stack.name for stack in found)
    return StackMatch(
        None,
        None,
        f"ambiguous: the {words} of {len(found)} stacks name {resource.label} ({', '.join(names)})",
        names,
    )


def _by_identifiers(
    resource: ExportedResource, stacks: Sequence[DiscoveredStack]
) -> list[DiscoveredStack]:
    identifiers = {item.identifier for item in resource.provisioned or () if item.identifier}
    if not identifiers:
        return []
    return [
        stack
        for stack in stacks
        if stack.name in identifiers
        or stack.stack_id in identifiers
        or any(row.physical_id in identifiers for row in stack.resources if row.physical_id)
    ]


def _by_name(
    resource: ExportedResource,
    resources: Sequence[ExportedResource],
    stacks: Sequence[DiscoveredStack],
) -> StackMatch:
    prefix = name_prefix(resource)
    if prefix is None:
        return StackMatch(
            None,
            None,
            f"not found: no stack is tagged for {resource.label} or holds one of its "
            "provisioned resources (Proton's component stack names are not known)",
        )
    found = [stack for stack in stacks if stack.name.startswith(prefix)]
    if not found:
        return StackMatch(
            None,
            None,
            f"not found: no stack is tagged for {resource.label}, holds one of its provisioned "
            f"resources or is named {prefix}...",
        )
    if len(found) > 1:
        return _one(resource, found, MatchedBy.NAME, "names")
    (stack,) = found
    rivals = [
        other.label
        for other in resources
        if other is not resource
        and (other_prefix := name_prefix(other)) is not None
        and stack.name.startswith(other_prefix)
    ]
    if rivals:
        return StackMatch(
            None,
            None,
            f"ambiguous: stack {stack.name} is named as Proton named {resource.label} and "
            f"{', '.join(rivals)} alike; tag it (proton:*) or export its provisioned resources",
            (stack.name,),
        )
    return StackMatch(stack, MatchedBy.NAME, None)
