"""What a render sees: plain descriptions of the resources, and the Jinja namespaces.

The dataclasses are deliberately not database rows: the engine fills them from the store,
tests and previews fill them by hand, and rendering never reaches back into the store.

The namespace builders follow reference section 3.2 key for key. They return plain data
(dicts, lists, strings, numbers), which is also what the Terraform and CodeBuild input
files are made of; values.py adds the Jinja-only behaviour at render time.

Ordering: inputs keep the order they were given (spec order, then schema defaults, as
TemplateSchema.apply_inputs returns them); outputs are sorted by name, because clouds
report them in no stable order and a preview must not show a reordering as a change.
Service instances of a pipeline keep the caller's order: templates use
``service_instances[0]``, so the caller passes a stable order (creation order).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EnvironmentRef:
    name: str
    account_id: str
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceRef:
    name: str
    branch_name: str | None = None
    repository_connection_arn: str | None = None
    repository_id: str | None = None


@dataclass(frozen=True)
class ComponentRef:
    name: str
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InstanceRef:
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, str]
    environment: EnvironmentRef
    components: dict[str, ComponentRef] = field(default_factory=dict)  # keyed "default"


def environment_namespace(environment: EnvironmentRef) -> dict[str, Any]:
    """Environment IaC: ``environment.{name, inputs}``."""
    return {"environment": {"name": environment.name, "inputs": _inputs(environment.inputs)}}


def instance_namespace(service: ServiceRef, instance: InstanceRef) -> dict[str, Any]:
    """Service instance IaC: environment, service and service_instance."""
    return {
        "environment": _environment_outputs(instance.environment),
        "service": _service(service),
        "service_instance": {
            "name": instance.name,
            "inputs": _inputs(instance.inputs),
            # Documented in Proton's comments; the samples use the top-level one instead.
            "environment": _environment_outputs(instance.environment),
            "components": {
                key: {"name": component.name, "outputs": _outputs(component.outputs)}
                for key, component in instance.components.items()
            },
        },
    }


def pipeline_namespace(
    service: ServiceRef, pipeline_inputs: Mapping[str, Any], instances: Sequence[InstanceRef]
) -> dict[str, Any]:
    """Pipeline IaC: pipeline.inputs, service and the list service_instances."""
    return {
        "pipeline": {"inputs": _inputs(pipeline_inputs)},
        "service": _service(service),
        "service_instances": [
            {
                "name": instance.name,
                "inputs": _inputs(instance.inputs),
                "outputs": _outputs(instance.outputs),
                "environment": _environment_outputs(instance.environment),
            }
            for instance in instances
        ],
    }


def component_namespace(
    component_name: str,
    environment: EnvironmentRef,
    service: ServiceRef | None = None,
    instance: InstanceRef | None = None,
) -> dict[str, Any]:
    """Component IaC: component.name and what it is attached to. There is no
    ``component.inputs``; an attached component reads its instance's inputs."""
    namespace: dict[str, Any] = {
        "component": {"name": component_name},
        "environment": _environment_outputs(environment),
    }
    if service is not None:
        namespace["service"] = {"name": service.name}
    if instance is not None:
        namespace["service_instance"] = {
            "name": instance.name,
            "inputs": _inputs(instance.inputs),
        }
    return namespace


def _environment_outputs(environment: EnvironmentRef) -> dict[str, Any]:
    return {
        "account_id": environment.account_id,
        "name": environment.name,
        "outputs": _outputs(environment.outputs),
    }


def _service(service: ServiceRef) -> dict[str, str]:
    # A service without a repository gets empty strings, as Proton wrote them in 2023.
    return {
        "name": service.name,
        "repository_connection_arn": service.repository_connection_arn or "",
        "repository_id": service.repository_id or "",
        "branch_name": service.branch_name or "",
    }


def _inputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(dict(inputs))  # the namespace must not share state with the caller


def _outputs(outputs: Mapping[str, str]) -> dict[str, str]:
    for name, value in outputs.items():
        if not isinstance(value, str):
            raise TypeError(f"output {name!r} must be a string, got {type(value).__name__}")
    return {name: outputs[name] for name in sorted(outputs)}
