"""Finding Proton's stacks in an account and telling which holds which resource: tags first,
then the exported provisioned resources, then the name pattern; ambiguity is reported."""

from __future__ import annotations

from typing import Any

from baryon.importing.export_directory import read_export_directory
from baryon.importing.limits import DEFAULT_LIMITS
from baryon.importing.matching import (
    ExportedResource,
    MatchedBy,
    exported_resources,
    match_stacks,
)
from baryon.importing.proton_export import ExportedProvisionedResource, StackOwner
from baryon.importing.stacks import DiscoveredStack, StackResource, discover_stacks
from baryon.service_models.proton import DeploymentTargetResourceType as Kind
from tests.support import proton_aftermath as pa
from tests.support.proton_aftermath import Aftermath


def test_every_proton_stack_is_found_and_no_other(
    aftermath: Aftermath, cloudformation: Any
) -> None:
    cloudformation.create_stack(
        StackName="unrelated-app",
        TemplateBody="Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n",
    )

    found = {stack.name: stack for stack in discover_stacks(cloudformation, DEFAULT_LIMITS)}

    assert {name: stack.stack_id for name, stack in found.items()} == aftermath.every_stack
    environment = found[aftermath.stacks["environment"].name]
    assert environment.tags["proton:environment"] == pa.arn(f"environment/{pa.ENVIRONMENT}")
    assert dict(environment.outputs) == aftermath.stacks["environment"].outputs
    assert {r.logical_id for r in environment.resources} == {
        logical for logical, _ in aftermath.stacks["environment"].resources
    }
    assert environment.adoptable


def test_each_exported_resource_gets_its_stack_by_tags_identifiers_or_name(
    aftermath: Aftermath, cloudformation: Any
) -> None:
    export = read_export_directory(aftermath.export_dir)
    stacks = discover_stacks(cloudformation, DEFAULT_LIMITS)

    matches = match_stacks(exported_resources(export), stacks)

    found = {
        arn: (m.stack.name if m.stack else None, m.matched_by) for arn, m in matches.by_arn.items()
    }
    assert found == {
        pa.arn(f"environment/{pa.ENVIRONMENT}"): (
            aftermath.stacks["environment"].name,
            MatchedBy.TAGS,
        ),
        pa.arn("service/frontend/service-instance/web-one"): (
            aftermath.stacks["frontend/web-one"].name,
            MatchedBy.TAGS,
        ),
        pa.arn("service/frontend/service-instance/web-two"): (
            aftermath.stacks["frontend/web-two"].name,
            MatchedBy.TAGS,
        ),
        pa.arn("service/frontend/pipeline"): (
            aftermath.stacks["frontend pipeline"].name,
            MatchedBy.PROVISIONED_RESOURCES,
        ),
        pa.arn("service/backend/service-instance/api"): (
            aftermath.stacks["backend/api"].name,
            MatchedBy.NAME,
        ),
        pa.arn(f"component/{pa.COMPONENT}"): (aftermath.stacks["component"].name, MatchedBy.TAGS),
    }
    assert [s.name for s in matches.unclaimed] == []


def _stack(name: str, tags: dict[str, str] | None = None, *physical: str) -> DiscoveredStack:
    return DiscoveredStack(
        name=name,
        stack_id=f"arn:aws:cloudformation:us-east-1:123456789012:stack/{name}/id-{name}",
        status="UPDATE_COMPLETE",
        tags=tags or {},
        outputs={},
        parameters={},
        role_arn=None,
        resources=tuple(
            StackResource(f"R{i}", p, "AWS::SNS::Topic") for i, p in enumerate(physical)
        ),
    )


def _resource(
    kind: Kind, *names: str, identifiers: tuple[str, ...] | None = None
) -> ExportedResource:
    path = {
        Kind.ENVIRONMENT: f"environment/{names[0]}",
        Kind.SERVICE_INSTANCE: f"service/{names[0]}/service-instance/{names[-1]}",
        Kind.SERVICE_PIPELINE: f"service/{names[0]}/pipeline",
        Kind.COMPONENT: f"component/{names[0]}",
    }[kind]
    tag_arn = pa.arn(f"service/{names[0]}") if kind == Kind.SERVICE_PIPELINE else pa.arn(path)
    provisioned = (
        None
        if identifiers is None
        else tuple(ExportedProvisionedResource("R", i, "CLOUDFORMATION") for i in identifiers)
    )
    return ExportedResource(kind, pa.arn(path), names, StackOwner(kind, tag_arn), provisioned)


def test_two_stacks_tagged_for_one_resource_are_reported_not_guessed() -> None:
    env = _resource(Kind.ENVIRONMENT, "prod")
    tags = {"proton:environment": env.arn}

    matches = match_stacks([env], [_stack("AWSProton-a", tags), _stack("AWSProton-b", tags)])

    match = matches.by_arn[env.arn]
    assert match.stack is None
    assert match.problem and match.problem.startswith("ambiguous: the tags of 2 stacks")
    assert match.candidates == ("AWSProton-a", "AWSProton-b")
    assert matches.unclaimed == ()


def test_a_name_two_resources_share_is_reported_not_guessed() -> None:
    # An environment "api-web" and service "api"'s instance "web" name stacks alike.
    env = _resource(Kind.ENVIRONMENT, "api-web")
    instance = _resource(Kind.SERVICE_INSTANCE, "api", "web")

    matches = match_stacks([env, instance], [_stack("AWSProton-api-web-cloudformation--XYZ")])

    for resource in (env, instance):
        match = matches.by_arn[resource.arn]
        assert match.stack is None and match.problem and "alike" in match.problem


def test_tags_win_over_a_name_another_resource_would_match() -> None:
    env = _resource(Kind.ENVIRONMENT, "api-web")
    instance = _resource(Kind.SERVICE_INSTANCE, "api", "web")
    tagged = _stack("AWSProton-api-web-cloudformation--AAA", {"proton:environment": env.arn})
    named = _stack("AWSProton-api-web-cloudformation-BBB")

    matches = match_stacks([env, instance], [tagged, named])

    assert matches.by_arn[env.arn].stack == tagged
    assert matches.by_arn[instance.arn].stack == named
    assert matches.by_arn[instance.arn].matched_by == MatchedBy.NAME


def test_an_instance_stack_tagged_with_its_environment_is_not_the_environments() -> None:
    env = _resource(Kind.ENVIRONMENT, "prod")
    instance = _resource(Kind.SERVICE_INSTANCE, "svc", "one")
    stack = _stack(
        "AWSProton-svc-one-cloudformation-X",
        {
            "proton:environment": env.arn,
            "proton:service": pa.arn("service/svc"),
            "proton:service-instance": instance.arn,
        },
    )

    matches = match_stacks([env, instance], [stack])

    assert matches.by_arn[instance.arn].stack == stack
    assert matches.by_arn[env.arn].stack is None
    assert matches.by_arn[env.arn].problem and "not found" in matches.by_arn[env.arn].problem


def test_identifiers_that_name_a_stack_or_a_resource_in_it_find_it() -> None:
    by_name = _resource(Kind.COMPONENT, "queue", identifiers=("my-stack",))
    by_physical = _resource(Kind.COMPONENT, "topic", identifiers=("arn:aws:sns:topic-1",))
    stacks = [_stack("my-stack"), _stack("other", None, "arn:aws:sns:topic-1")]

    matches = match_stacks([by_name, by_physical], stacks)

    assert matches.by_arn[by_name.arn].stack == stacks[0]
    assert matches.by_arn[by_physical.arn].stack == stacks[1]
    assert matches.by_arn[by_physical.arn].matched_by == MatchedBy.PROVISIONED_RESOURCES


def test_one_stack_found_for_two_resources_is_neithers() -> None:
    first = _resource(Kind.COMPONENT, "a", identifiers=("shared",))
    second = _resource(Kind.COMPONENT, "b", identifiers=("shared",))

    matches = match_stacks([first, second], [_stack("shared")])

    assert all(m.stack is None and m.candidates == ("shared",) for m in matches.by_arn.values())


def test_a_component_is_never_matched_by_a_name_nobody_has_seen() -> None:
    component = _resource(Kind.COMPONENT, "cache")

    matches = match_stacks([component], [_stack("AWSProton-cache-cloudformation--ABC")])

    match = matches.by_arn[component.arn]
    assert match.stack is None and match.problem and "component stack names" in match.problem
    assert [s.name for s in matches.unclaimed] == ["AWSProton-cache-cloudformation--ABC"]
