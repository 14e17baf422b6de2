"""Environments, service instances and pipelines as the portal shows them: where each one's
pages are, and how its spec reads and writes as form inputs. What they are and what can be
done to them is operations.deployed_resources."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from baryon.operations import resource_keys, spec_documents
from baryon.operations.deployed_resources import Loaded
from baryon.operations.resource_keys import ENVIRONMENT, INSTANCE, ResourceKey
from baryon.web import urls


@dataclass(frozen=True)
class PageKey(ResourceKey):
    """A resource key that knows its pages' addresses."""

    def url(self, *action: str) -> str:
        if self.kind == ENVIRONMENT:
            return urls.environment(self.name, *action)
        if self.kind == INSTANCE:
            return urls.instance(self.service or "", self.name, *action)
        return urls.pipeline(self.service or "", *action)


def page_key(key: ResourceKey) -> PageKey:
    return PageKey(key.kind, key.name, key.service)


def environment_key(name: str) -> PageKey:
    return page_key(resource_keys.environment_key(name))


def instance_key(service: str, name: str) -> PageKey:
    return page_key(resource_keys.instance_key(service, name))


def pipeline_key(service: str) -> PageKey:
    return page_key(resource_keys.pipeline_key(service))


def raw_inputs(loaded: Loaded) -> dict[str, Any] | None:
    """The inputs the spec names (defaults not filled in)."""
    if loaded.key.kind == ENVIRONMENT:
        return spec_documents.environment_inputs(loaded.row.spec)
    if loaded.key.kind == INSTANCE:
        return spec_documents.instance_inputs(loaded.row.spec, loaded.key.name)
    return spec_documents.pipeline_inputs(loaded.row.spec)


def spec_with_inputs(loaded: Loaded, values: dict[str, Any]) -> str:
    if loaded.key.kind == ENVIRONMENT:
        return spec_documents.environment_spec(values)
    if loaded.key.kind == INSTANCE:
        return spec_documents.with_instance_inputs(loaded.row.spec, loaded.key.name, values)
    return spec_documents.with_pipeline_inputs(loaded.row.spec, values)
