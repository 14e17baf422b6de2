"""One action that upgrades every outdated resource of a template to the recommended minor
or major version: the fleet dashboard's button."""

from __future__ import annotations

from dataclasses import dataclass

from baryon.domain.errors import DomainError, Forbidden
from baryon.domain.templates import TemplateKind
from baryon.operations import deployed_resources
from baryon.operations.context import RequestContext
from baryon.operations.deployed_resources import Upgrade
from baryon.operations.fleet import Outdated, outdated_fleet
from baryon.operations.resource_keys import (
    ENVIRONMENT,
    INSTANCE,
    ResourceKey,
    environment_key,
    instance_key,
    pipeline_key,
)


@dataclass(frozen=True)
class FleetUpgrade:
    template_name: str
    started: list[str]  # the resources whose upgrade started, in words
    skipped: list[str]  # "<resource>: <why not>"


def upgrade_outdated(
    ctx: RequestContext,
    kind: TemplateKind,
    template_name: str,
    upgrade: Upgrade,
    resource_kind: str | None = None,
) -> FleetUpgrade:
    """``resource_kind`` (environment, instance, pipeline) keeps the upgrade to one fleet row."""
    found = outdated_fleet(ctx, kind, template_name, upgrade.behind, resource_kind)
    started, skipped = [], []
    refused: Forbidden | None = None
    for item in found.items:
        key = _key(item)
        wanted = upgrade.target(found.targets[(item.kind, item.service, item.name)])
        if wanted is None:
            continue
        try:
            # One transaction per resource: a busy one is skipped, the others still go.
            deployed_resources.upgrade(ctx, key, upgrade, *wanted)
            started.append(key.label)
        except DomainError as exc:
            if isinstance(exc, Forbidden):
                refused = refused or exc
            skipped.append(f"{key.label}: {exc.message}")
    # Each upgrade is authorized on its own resource, so a rollout skips what its caller may
    # not change; one that may change none of them is refused as a whole.
    if refused is not None and not started:
        raise refused
    return FleetUpgrade(found.template.name, started, skipped)


def _key(item: Outdated) -> ResourceKey:
    if item.kind == ENVIRONMENT:
        return environment_key(item.name)
    if item.kind == INSTANCE:
        return instance_key(item.service or "", item.name)
    return pipeline_key(item.service or "")
