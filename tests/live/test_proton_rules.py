"""Proton's documented rules that hold on every path, through boto3 against the shared
`baryon up`: template versions that resources run stay, attached components stay until
detached, customer tags stay off stacks but reach child resources, a NONE update drops
nothing, and inputs of features Baryon has not built are refused instead of ignored."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.support.bundles import Registry, env_bundle, service_bundle, tar_gz
from tests.support.deploying import (
    FAST,
    REPO,
    env_spec,
    error_message,
    instance_settled,
    pipeline_settled,
    publish_environment_template,
    publish_service_template,
    service_spec,
    stack,
)
from tests.support.processes import BaryonProcess

SUFFIX = uuid.uuid4().hex[:6]
ENV_TEMPLATE, SVC_TEMPLATE = f"renv-{SUFFIX}", f"rsvc-{SUFFIX}"
COMPONENT_TEMPLATE = f"rcmp-{SUFFIX}"
ROLE = "arn:aws:iam::123456789012:role/{}"
MANIFEST = (
    "infrastructure:\n  templates:\n    - file: cloudformation.yaml\n"
    "      rendering_engine: jinja\n      template_language: cloudformation\n"
)
COMPONENT = """\
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: '{{ component.name }}-q'
Outputs:
  QueueName:
    Value: !GetAtt Queue.QueueName
"""


@pytest.fixture(scope="module")
def registry(proton: Any, s3: Any) -> Registry:
    registry = Registry(proton, s3)
    publish_environment_template(registry, ENV_TEMPLATE)
    publish_environment_template(registry, ENV_TEMPLATE, major="1")  # 1.1, the recommended
    publish_service_template(registry, SVC_TEMPLATE, [(ENV_TEMPLATE, "1")])
    registry.ensure_template("service", COMPONENT_TEMPLATE, pipelineProvisioning="CUSTOMER_MANAGED")
    version = registry.register(
        "service",
        COMPONENT_TEMPLATE,
        tar_gz(service_bundle(pipeline=False)),
        compatibleEnvironmentTemplates=[{"templateName": ENV_TEMPLATE, "majorVersion": "1"}],
        supportedComponentSources=["DIRECTLY_DEFINED"],
    )
    registry.publish("service", COMPONENT_TEMPLATE, version)
    return registry


def _environment(proton: Any, name: str, minor: str | None = None, **extra: Any) -> None:
    if minor is not None:
        extra["templateMinorVersion"] = minor
    proton.create_environment(
        name=name,
        templateName=ENV_TEMPLATE,
        templateMajorVersion="1",
        spec=env_spec(),
        protonServiceRoleArn=ROLE.format("proton"),
        **extra,
    )
    proton.get_waiter("environment_deployed").wait(name=name, WaiterConfig=FAST)


def _tags(proton: Any, arn: str) -> dict[str, str]:
    found = proton.list_tags_for_resource(resourceArn=arn)["tags"]
    return {tag["key"]: tag["value"] for tag in found}


# --- template versions that resources run --------------------------------------------------


def test_an_environment_template_version_that_an_environment_runs_cannot_be_deleted(
    proton: Any, registry: Registry
) -> None:
    env = f"runs10-{SUFFIX}"
    _environment(proton, env, minor="0")
    with pytest.raises(proton.exceptions.ValidationException) as caught:
        proton.delete_environment_template_version(
            templateName=ENV_TEMPLATE, majorVersion="1", minorVersion="0"
        )
    assert f"environment '{env}'" in error_message(caught)
    still = proton.get_environment_template_version(
        templateName=ENV_TEMPLATE, majorVersion="1", minorVersion="0"
    )["environmentTemplateVersion"]
    assert still["status"] == "PUBLISHED"

    # Once the environment moved on, the version goes (it is not the recommended one).
    proton.update_environment(name=env, deploymentType="MINOR_VERSION")
    proton.get_waiter("environment_deployed").wait(name=env, WaiterConfig=FAST)
    proton.delete_environment_template_version(
        templateName=ENV_TEMPLATE, majorVersion="1", minorVersion="0"
    )
    # The next update still finds the version it runs.
    proton.update_environment(name=env, deploymentType="CURRENT_VERSION", spec=env_spec())
    assert proton.get_waiter("environment_deployed").wait(name=env, WaiterConfig=FAST) is None


def test_a_service_template_version_that_a_pipeline_still_runs_cannot_be_deleted(
    proton: Any, registry: Registry
) -> None:
    env, svc = f"penv-{SUFFIX}", f"psvc-{SUFFIX}"
    _environment(proton, env)
    proton.create_service(
        name=svc,
        templateName=SVC_TEMPLATE,
        templateMajorVersion="1",
        spec=service_spec([("one", env, None)], pipeline={}),
        **REPO,
    )
    proton.get_waiter("service_created").wait(name=svc, WaiterConfig=FAST)
    publish_service_template(registry, SVC_TEMPLATE, [(ENV_TEMPLATE, "1")], major="1")
    proton.update_service_instance(serviceName=svc, name="one", deploymentType="MINOR_VERSION")
    assert instance_settled(proton, svc, "one")["templateMinorVersion"] == "1"

    # The instance left 1.0; the pipeline did not (Proton's own example).
    with pytest.raises(proton.exceptions.ValidationException) as caught:
        proton.delete_service_template_version(
            templateName=SVC_TEMPLATE, majorVersion="1", minorVersion="0"
        )
    assert f"the pipeline of service '{svc}'" in error_message(caught)
    assert "service instance" not in error_message(caught)
    proton.update_service_pipeline(
        serviceName=svc, deploymentType="MINOR_VERSION", spec=service_spec([], pipeline={})
    )
    assert pipeline_settled(proton, svc)["templateMinorVersion"] == "1"
    proton.delete_service_template_version(
        templateName=SVC_TEMPLATE, majorVersion="1", minorVersion="0"
    )


def test_a_template_with_versions_or_resources_is_refused_as_invalid_not_a_server_error(
    proton: Any, registry: Registry
) -> None:
    for kind in ("environment", "service"):
        with pytest.raises(proton.exceptions.ValidationException) as caught:
            name = ENV_TEMPLATE if kind == "environment" else SVC_TEMPLATE
            getattr(proton, f"delete_{kind}_template")(name=name)
        assert "delete them first" in error_message(caught), kind


def test_the_recommended_version_goes_last(proton: Any, registry: Registry) -> None:
    name = f"rrec-{SUFFIX}"
    publish_environment_template(registry, name)
    publish_environment_template(registry, name)  # 2.0 is recommended now
    with pytest.raises(proton.exceptions.ValidationException, match="recommended version"):
        proton.delete_environment_template_version(
            templateName=name, majorVersion="2", minorVersion="0"
        )
    proton.delete_environment_template_version(
        templateName=name, majorVersion="1", minorVersion="0"
    )
    proton.delete_environment_template_version(
        templateName=name, majorVersion="2", minorVersion="0"
    )
    proton.delete_environment_template(name=name)


# --- components ---------------------------------------------------------------------------


def test_an_attached_component_is_deleted_only_after_it_is_detached(
    proton: Any, registry: Registry
) -> None:
    env, svc, component = f"cenv-{SUFFIX}", f"csvc-{SUFFIX}", f"comp-{SUFFIX}"
    _environment(proton, env, componentRoleArn=ROLE.format("component"))
    proton.create_service(
        name=svc,
        templateName=COMPONENT_TEMPLATE,
        templateMajorVersion="1",
        spec=service_spec([("one", env, None)]),
    )
    proton.get_waiter("service_created").wait(name=svc, WaiterConfig=FAST)
    proton.create_component(
        name=component,
        manifest=MANIFEST,
        templateFile=COMPONENT,
        serviceName=svc,
        serviceInstanceName="one",
    )
    proton.get_waiter("component_deployed").wait(name=component, WaiterConfig=FAST)

    with pytest.raises(proton.exceptions.ValidationException) as caught:
        proton.delete_component(name=component)
    assert f"'{svc}/one'" in error_message(caught)
    assert proton.get_component(name=component)["component"]["deploymentStatus"] == "SUCCEEDED"

    proton.update_component(
        name=component, deploymentType="CURRENT_VERSION", serviceName="", serviceInstanceName=""
    )
    proton.get_waiter("component_deployed").wait(name=component, WaiterConfig=FAST)
    proton.delete_component(name=component)
    proton.get_waiter("component_deleted").wait(name=component, WaiterConfig=FAST)


# --- tags ---------------------------------------------------------------------------------


def test_customer_tags_stay_off_the_stack_which_carries_protons_managed_tags(
    proton: Any, baryon: BaryonProcess, registry: Registry
) -> None:
    env = f"tenv-{SUFFIX}"
    _environment(proton, env, tags=[{"key": "team", "value": "platform"}])
    deployed = stack(baryon.client("cloudformation"), "environment", env)
    assert deployed is not None
    stack_tags = {tag["Key"]: tag["Value"] for tag in deployed.get("Tags", [])}
    assert (
        stack_tags["proton:environment"] == proton.get_environment(name=env)["environment"]["arn"]
    )
    assert set(stack_tags) <= {"proton:account", "proton:template", "proton:environment"}


def test_instances_and_pipeline_inherit_the_services_tags_even_when_added_later(
    proton: Any, registry: Registry
) -> None:
    env, svc = f"ienv-{SUFFIX}", f"isvc-{SUFFIX}"
    _environment(proton, env)
    service = proton.create_service(
        name=svc,
        templateName=SVC_TEMPLATE,
        templateMajorVersion="1",
        spec=service_spec([("first", env, None)], pipeline={}),
        tags=[{"key": "team", "value": "web"}, {"key": "cost", "value": "7"}],
        **REPO,
    )["service"]
    proton.get_waiter("service_created").wait(name=svc, WaiterConfig=FAST)
    first = proton.get_service_instance(serviceName=svc, name="first")["serviceInstance"]
    pipeline = f"{service['arn']}/pipeline"
    assert _tags(proton, first["arn"]) == {"team": "web", "cost": "7"}
    assert _tags(proton, pipeline) == {"team": "web", "cost": "7"}

    later = proton.create_service_instance(
        serviceName=svc,
        name="later",
        spec=service_spec([("later", env, None)]),
        tags=[{"key": "cost", "value": "9"}],
    )["serviceInstance"]
    assert _tags(proton, later["arn"]) == {"team": "web", "cost": "9"}


def test_template_versions_inherit_their_templates_tags(proton: Any, registry: Registry) -> None:
    name = f"ttag-{SUFFIX}"
    proton.create_environment_template(name=name, tags=[{"key": "owner", "value": "platform"}])
    version = registry.register(
        "environment", name, tar_gz(env_bundle()), tags=[{"key": "stage", "value": "beta"}]
    )
    assert _tags(proton, version["arn"]) == {"owner": "platform", "stage": "beta"}


# --- NONE updates drop nothing --------------------------------------------------------------


def test_a_none_pipeline_update_refuses_a_new_spec_or_version_and_accepts_the_same_spec(
    proton: Any, registry: Registry
) -> None:
    env, svc = f"nenv-{SUFFIX}", f"nsvc-{SUFFIX}"
    _environment(proton, env)
    proton.create_service(
        name=svc,
        templateName=SVC_TEMPLATE,
        templateMajorVersion="1",
        spec=service_spec([("one", env, None)], pipeline={"dockerfile": "Dockerfile"}),
        **REPO,
    )
    proton.get_waiter("service_created").wait(name=svc, WaiterConfig=FAST)
    before = proton.get_service(name=svc)["service"]["pipeline"]

    refused = {
        "spec": {"spec": service_spec([], pipeline={"dockerfile": "Other.dockerfile"})},
        "version": {
            "spec": service_spec([], pipeline={"dockerfile": "Dockerfile"}),
            "templateMajorVersion": "1",
            "templateMinorVersion": before["templateMinorVersion"],
        },
    }
    for what, arguments in refused.items():
        with pytest.raises(proton.exceptions.ValidationException) as caught:
            proton.update_service_pipeline(serviceName=svc, deploymentType="NONE", **arguments)
        assert "deploymentType NONE" in error_message(caught), what

    same = proton.update_service_pipeline(
        serviceName=svc,
        deploymentType="NONE",
        spec=service_spec([], pipeline={"dockerfile": "Dockerfile"}),
    )["pipeline"]
    assert same["lastAttemptedDeploymentId"] == before["lastAttemptedDeploymentId"]


# --- inputs of features Baryon has not built ---------------------------------------------


def test_an_environment_refuses_an_account_connection_that_does_not_exist(
    proton: Any, registry: Registry
) -> None:
    name = f"noconn{uuid.uuid4().hex[:6]}"
    connection = str(uuid.uuid4())
    with pytest.raises(proton.exceptions.ValidationException) as caught:
        proton.create_environment(
            name=name,
            templateName=ENV_TEMPLATE,
            templateMajorVersion="1",
            spec=env_spec(),
            environmentAccountConnectionId=connection,
        )
    assert error_message(caught) == (
        f"environmentAccountConnectionId: the environment account connection '{connection}' "
        "was not found."
    )
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.get_environment(name=name)


def test_an_environment_deploying_as_a_role_cannot_be_given_an_account_connection(
    proton: Any, registry: Registry
) -> None:
    env = f"conn-{SUFFIX}"
    _environment(proton, env)
    with pytest.raises(proton.exceptions.ValidationException, match="environmentAccountConn"):
        proton.update_environment(
            name=env, deploymentType="NONE", environmentAccountConnectionId=str(uuid.uuid4())
        )
    after = proton.get_environment(name=env)["environment"]
    assert after["protonServiceRoleArn"] == ROLE.format("proton")
    assert "environmentAccountConnectionId" not in after


def test_an_aws_managed_environment_needs_a_role(proton: Any, registry: Registry) -> None:
    with pytest.raises(proton.exceptions.ValidationException) as caught:
        proton.create_environment(
            name=f"norole-{SUFFIX}",
            templateName=ENV_TEMPLATE,
            templateMajorVersion="1",
            spec=env_spec(),
        )
    assert error_message(caught).startswith("protonServiceRoleArn:")


def test_templates_refuse_an_encryption_key_they_would_not_use(proton: Any) -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    for kind in ("environment", "service"):
        with pytest.raises(proton.exceptions.ValidationException) as caught:
            getattr(proton, f"create_{kind}_template")(name=f"key-{SUFFIX}", encryptionKey=key)
        assert "encryptionKey: customer-managed encryption keys" in error_message(caught)


def test_every_unbuilt_member_is_a_member_of_its_operation() -> None:
    from baryon.operations import unbuilt

    for operation in unbuilt.UNBUILT_MEMBERS:
        unbuilt.refuse_unbuilt(operation, {})  # nothing given, nothing refused
    with pytest.raises(Exception, match="not yet available"):
        unbuilt.refuse_unbuilt("CreateEnvironmentTemplate", {"encryptionKey": "x"})
    unbuilt.refuse_unbuilt("CreateEnvironmentTemplate", {"encryptionKey": ""})
