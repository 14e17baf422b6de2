"""What the account alone says: resources read from the ``proton:*`` tags of Proton's stacks,
merged into an export where there is one (the export wins)."""

from __future__ import annotations

from datetime import UTC, datetime

import yaml

from baryon.importing.account_export import ENVIRONMENT_SPEC, account_export
from baryon.importing.proton_export import VersionKey
from baryon.importing.stacks import DiscoveredStack
from baryon.service_models.proton import TemplateType

WHEN = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


def arn(resource: str) -> str:
    return f"arn:aws:proton:us-east-1:123456789012:{resource}"


def stack(name: str, outputs: dict[str, str] | None = None, **tags: str) -> DiscoveredStack:
    return DiscoveredStack(
        name=name,
        stack_id=f"arn:aws:cloudformation:us-east-1:123456789012:stack/{name}/id",
        status="CREATE_COMPLETE",
        tags={f"proton:{key.replace('_', '-')}": value for key, value in tags.items()},
        outputs=outputs or {},
        parameters={},
        role_arn=None,
        resources=(),
        created_at=WHEN,
    )


def aftermath() -> list[DiscoveredStack]:
    env = arn("environment/prod")
    return [
        stack(
            "AWSProton-prod-cloudformation--A",
            {"VpcId": "vpc-1"},
            environment=env,
            template=arn("environment-template/vpc-env:2.3"),
        ),
        stack(
            "AWSProton-web-one-cloudformation-B",
            environment=env,
            template=arn("service-template/svc"),
            service=arn("service/web"),
            service_instance=arn("service/web/service-instance/one"),
        ),
        stack(
            "AWSProton-web-cloudformation--C",
            template=arn("service-template/svc"),
            service=arn("service/web"),
        ),
        stack(
            "AWSProton-cache-cloudformation--D",
            environment=env,
            component=arn("component/cache"),
            service_instance=arn("service/web/service-instance/one"),
        ),
        stack("AWSProton-old-cloudformation--E", environment=arn("environment/old")),
    ]


def test_the_account_alone_gives_each_tagged_resource_its_names_template_and_outputs() -> None:
    reading = account_export(aftermath(), None)
    export = reading.export

    (environment,) = export.environments
    assert (environment.name, environment.version) == (
        "prod",
        VersionKey(TemplateType.ENVIRONMENT, "vpc-env", 2, 3),
    )
    assert environment.spec == ENVIRONMENT_SPEC
    assert [(o.key, o.value) for o in environment.deployed.outputs or ()] == [("VpcId", "vpc-1")]
    (service,) = export.services
    assert service.arn == arn("service/web")
    assert [i.name for i in service.instances] == ["one"]
    assert service.instances[0].version == VersionKey(TemplateType.SERVICE, "svc", 1, 0)
    assert service.pipeline is not None and service.pipeline.arn == arn("service/web/pipeline")
    assert yaml.safe_load(service.spec) == {
        "proton": "ServiceSpec",
        "pipeline": {},
        "instances": [{"name": "one", "environment": "prod", "spec": {}}],
    }
    (component,) = export.components
    assert (component.environment_name, component.service_name) == ("prod", "web")
    assert component.service_instance_name == "one"
    # Versions recovered later: the service's compatible with the environment's template, and
    # open to the directly defined component attached to its instance.
    assert [v.key.number for v in export.versions] == ["2.3", "1.0"]
    assert export.versions[1].compatible_environment_templates == (("vpc-env", 2),)
    assert export.versions[1].supported_component_sources == ("DIRECTLY_DEFINED",)
    assert {(t.kind, t.name) for t in export.templates} == {
        (TemplateType.ENVIRONMENT, "vpc-env"),
        (TemplateType.SERVICE, "svc"),
    }


def test_every_item_read_from_the_account_says_so_and_what_could_not_be_known() -> None:
    notes = account_export(aftermath(), None).notes

    assert set(notes) == {
        ("ENVIRONMENT_TEMPLATE", "vpc-env", None),
        ("SERVICE_TEMPLATE", "svc", None),
        ("ENVIRONMENT_TEMPLATE_VERSION", "vpc-env", "2.3"),
        ("SERVICE_TEMPLATE_VERSION", "svc", "1.0"),
        ("ENVIRONMENT", "prod", None),
        ("SERVICE", "web", None),
        ("SERVICE_INSTANCE", "web/one", None),
        ("SERVICE_PIPELINE", "web", None),
        ("COMPONENT", "cache", None),
    }
    assert all(note.startswith("from the account only (") for note in notes.values())
    assert "the original spec" in notes[("ENVIRONMENT", "prod", None)]
    assert "protonServiceRoleArn" in notes[("ENVIRONMENT", "prod", None)]
    # The tag numbered the environment template's version; the service's it did not.
    assert "major.minor" not in notes[("ENVIRONMENT_TEMPLATE_VERSION", "vpc-env", "2.3")]
    assert "major.minor number (1.0" in notes[("SERVICE_TEMPLATE_VERSION", "svc", "1.0")]


def test_a_stack_whose_tags_name_no_template_is_left_out_with_why() -> None:
    stacks = aftermath()
    reading = account_export(stacks, None)

    assert reading.unreadable == {
        stacks[-1].stack_id: "its tags name no environment template (proton:template)"
    }
    assert [e.name for e in reading.export.environments] == ["prod"]


def test_tags_that_are_no_proton_arns_are_left_out_with_why() -> None:
    bad = stack(
        "AWSProton-x-cloudformation--F",
        environment="arn:aws:proton:us-east-1:1:environment/../../etc",
        template=arn("environment-template/vpc-env"),
    )
    wrong_kind = stack(
        "AWSProton-y-cloudformation--G",
        environment=arn("environment/y"),
        template=arn("service-template/svc"),
    )

    reading = account_export([bad, wrong_kind], None)

    assert reading.export.environments == ()
    assert reading.unreadable == {
        bad.stack_id: "its tags name no Proton environment by ARN",
        wrong_kind.stack_id: "its tags name no environment template (proton:template)",
    }
    assert reading.notes == {}


def test_reading_the_same_stacks_twice_gives_the_same_export() -> None:
    assert account_export(aftermath(), None) == account_export(list(reversed(aftermath())), None)
