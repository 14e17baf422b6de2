"""Changing services after they exist, through boto3 against a real `baryon up`.

UpdateService adds and removes instances (and redeploys the pipeline afterwards), refuses edits
of existing instances and of the pipeline; CreateServiceInstance; UpdateServicePipeline;
``${Proton::CURRENT_VAL}``; services without a pipeline; the checks on environments and
repositories; idempotent creates.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import yaml

from tests.support.bundles import PIPE_CFN, Registry, service_bundle
from tests.support.deploying import (
    FAST,
    REPO,
    env_spec,
    error_message,
    outputs,
    publish_environment_template,
    publish_service_template,
    service_spec,
    stack,
    stack_outputs,
)
from tests.support.processes import BaryonProcess, own_baryon

SUFFIX = uuid.uuid4().hex[:6]
ENV_TEMPLATE, OTHER_TEMPLATE = f"senv-{SUFFIX}", f"sother-{SUFFIX}"
SVC_TEMPLATE, BARE_TEMPLATE = f"ssvc-{SUFFIX}", f"sbare-{SUFFIX}"
ENV, OTHER_ENV = f"dev{SUFFIX}", f"oth{SUFFIX}"
PIPE_WITH_DOCKERFILE = PIPE_CFN + "  Dockerfile:\n    Value: '{{ pipeline.inputs.dockerfile }}'\n"


def _bundle(generation: str | None = None) -> dict[str, str]:
    files = service_bundle()
    files["pipeline_infrastructure/cloudformation.yaml"] = PIPE_WITH_DOCKERFILE + (
        f"  Generation:\n    Value: '{generation}'\n" if generation else ""
    )
    return files


server = own_baryon("service-updates", env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.01"})


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    return server.client("proton")


@pytest.fixture(scope="module")
def cloudformation(server: BaryonProcess) -> Any:
    return server.client("cloudformation")


@pytest.fixture(scope="module")
def registry(server: BaryonProcess, proton: Any) -> Registry:
    """Two environment templates, each with a deployed environment, and two service
    templates: one with a pipeline (compatible with the first environment template only),
    one whose pipeline is customer-managed."""
    registry = Registry(proton, server.client("s3"))
    publish_environment_template(registry, ENV_TEMPLATE)
    publish_environment_template(registry, OTHER_TEMPLATE)
    publish_service_template(registry, SVC_TEMPLATE, [(ENV_TEMPLATE, "1")], _bundle())
    publish_service_template(
        registry,
        BARE_TEMPLATE,
        [(ENV_TEMPLATE, "1")],
        service_bundle(pipeline=False),
        pipelineProvisioning="CUSTOMER_MANAGED",
    )
    for name, template in ((ENV, ENV_TEMPLATE), (OTHER_ENV, OTHER_TEMPLATE)):
        proton.create_environment(
            protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
            name=name,
            templateName=template,
            templateMajorVersion="1",
            spec=env_spec(),
        )
    for name in (ENV, OTHER_ENV):
        proton.get_waiter("environment_deployed").wait(name=name, WaiterConfig=FAST)
    return registry


@pytest.fixture(scope="module")
def web(proton: Any, registry: Registry) -> str:
    """A service with a pipeline and two instances; the tests below change it in order."""
    name = f"web-{SUFFIX}"
    proton.create_service(
        name=name,
        templateName=SVC_TEMPLATE,
        templateMajorVersion="1",
        spec=service_spec(
            [("one", ENV, {"port": 8001}), ("two", ENV, {"port": 8002})],
            pipeline={"dockerfile": "Dockerfile.prod"},
        ),
        **REPO,
    )
    proton.get_waiter("service_created").wait(name=name, WaiterConfig=FAST)
    return name


def _instance_names(proton: Any, service: str) -> list[str]:
    pages = proton.get_paginator("list_service_instances").paginate(serviceName=service)
    return [i["name"] for page in pages for i in page["serviceInstances"]]


def _spec_entries(service: dict[str, Any]) -> dict[str, Any]:
    document = yaml.safe_load(service["spec"])
    return {entry["name"]: entry for entry in document["instances"]}


def test_update_service_adds_one_instance_and_removes_another(
    proton: Any, cloudformation: Any, web: str
) -> None:
    assert stack(cloudformation, "service-instance", web, "one") is not None
    before = proton.get_service(name=web)["service"]["pipeline"]["lastSucceededDeploymentId"]
    new_spec = service_spec(
        [("two", ENV, {"port": 8002}), ("three", ENV, {"port": 8003})],
        pipeline={"dockerfile": "Dockerfile.prod"},
    )

    updating = proton.update_service(name=web, spec=new_spec)["service"]
    assert updating["status"] == "UPDATE_IN_PROGRESS"
    proton.get_waiter("service_updated").wait(name=web, WaiterConfig=FAST)

    service = proton.get_service(name=web)["service"]
    assert service["status"] == "ACTIVE"
    assert service["spec"] == new_spec
    assert _instance_names(proton, web) == ["three", "two"]
    with pytest.raises(proton.exceptions.ResourceNotFoundException, match="'one'"):
        proton.get_service_instance(serviceName=web, name="one")
    assert stack(cloudformation, "service-instance", web, "one") is None
    added = stack(cloudformation, "service-instance", web, "three")
    assert added is not None and stack_outputs(added)["Port"] == "8003"
    removal = proton.list_deployments(serviceName=web, serviceInstanceName="one")["deployments"]
    assert [d["deploymentStatus"] for d in removal] == ["DELETE_COMPLETE", "SUCCEEDED"]

    # The pipeline ran again, after the instances, and builds for the new set.
    pipeline = service["pipeline"]
    assert pipeline["deploymentStatus"] == "SUCCEEDED"
    assert pipeline["lastSucceededDeploymentId"] != before
    redeploy = proton.get_deployment(id=pipeline["lastSucceededDeploymentId"])["deployment"]
    assert redeploy["createdAt"] >= removal[0]["createdAt"]
    assert redeploy["completedAt"] >= removal[0]["completedAt"]
    pipeline_outputs = outputs(proton.list_service_pipeline_outputs(serviceName=web)["outputs"])
    assert pipeline_outputs["Instances"] == f"three=8003@{ENV};two=8002@{ENV};"
    assert pipeline_outputs["Dockerfile"] == "Dockerfile.prod"


def test_update_service_refuses_edits_and_names_the_field(proton: Any, web: str) -> None:
    service = proton.get_service(name=web)["service"]
    attempted = {
        name: proton.get_service_instance(serviceName=web, name=name)["serviceInstance"][
            "lastAttemptedDeploymentId"
        ]
        for name in ("two", "three")
    }
    pipeline = {"dockerfile": "Dockerfile.prod"}
    refused = {
        # Editing an existing instance's spec is UpdateServiceInstance's job.
        "instances[0].spec": service_spec(
            [("two", ENV, {"port": 9999}), ("three", ENV, {"port": 8003})], pipeline
        ),
        "instances[1].environment": service_spec(
            [("two", ENV, {"port": 8002}), ("three", OTHER_ENV, {"port": 8003})], pipeline
        ),
        "spec.pipeline": service_spec(
            [("two", ENV, {"port": 8002}), ("three", ENV, {"port": 8003})],
            {"dockerfile": "Dockerfile.other"},
        ),
        "spec.instances": "proton: ServiceSpec\npipeline:\n  dockerfile: Dockerfile.prod\n"
        "instances: []\n",
    }
    for field, spec in refused.items():
        with pytest.raises(proton.exceptions.ValidationException) as caught:
            proton.update_service(name=web, spec=spec)
        assert field in error_message(caught), (field, error_message(caught))
    assert "instance 'two'" in _refusal(proton, web, refused["instances[0].spec"])

    # New instances are checked like CreateService's: a compatible, existing environment.
    keep = [("two", ENV, {"port": 8002}), ("three", ENV, {"port": 8003})]
    incompatible = _refusal(proton, web, service_spec([*keep, ("four", OTHER_ENV, None)], pipeline))
    assert f"instances[2].environment: environment '{OTHER_ENV}' runs {OTHER_TEMPLATE}:1" in (
        incompatible
    )
    assert f"compatible: {ENV_TEMPLATE}:1" in incompatible
    missing = _refusal(proton, web, service_spec([*keep, ("four", "nowhere", None)], pipeline))
    assert "instances[2].environment: the environment 'nowhere' does not exist" in missing

    # Nothing was changed by the refusals.
    assert proton.get_service(name=web)["service"]["spec"] == service["spec"]
    assert _instance_names(proton, web) == ["three", "two"]

    # Spelling out a default is no edit: accepted, and nothing is deployed.
    same = service_spec(
        [("two", ENV, {"port": 8002, "image": "nginx"}), ("three", ENV, {"port": 8003})],
        pipeline,
    )
    assert proton.update_service(name=web, spec=same)["service"]["status"] == "ACTIVE"
    for name, deployment_id in attempted.items():
        instance = proton.get_service_instance(serviceName=web, name=name)["serviceInstance"]
        assert instance["lastAttemptedDeploymentId"] == deployment_id


def _refusal(proton: Any, service: str, spec: str) -> str:
    with pytest.raises(proton.exceptions.ValidationException) as caught:
        proton.update_service(name=service, spec=spec)
    return error_message(caught)


def test_create_service_instance_joins_the_service_and_its_pipeline(proton: Any, web: str) -> None:
    whole = service_spec(
        [("two", ENV, {"port": 8002}), ("four", ENV, {"port": 8004, "image": "caddy"})],
        pipeline={"dockerfile": "Dockerfile.prod"},
    )
    with pytest.raises(proton.exceptions.ValidationException, match="no instance named 'five'"):
        proton.create_service_instance(serviceName=web, name="five", spec=whole)

    created = proton.create_service_instance(
        serviceName=web, name="four", spec=whole, tags=[{"key": "team", "value": "web"}]
    )["serviceInstance"]
    assert (created["deploymentStatus"], created["templateMajorVersion"]) == ("IN_PROGRESS", "1")
    with pytest.raises(proton.exceptions.ConflictException):
        proton.create_service_instance(serviceName=web, name="four", spec=whole)
    proton.get_waiter("service_instance_deployed").wait(
        serviceName=web, name="four", WaiterConfig=FAST
    )
    four = outputs(
        proton.list_service_instance_outputs(serviceName=web, serviceInstanceName="four")["outputs"]
    )
    assert (four["Port"], four["Image"]) == ("8004", "caddy")
    assert proton.list_tags_for_resource(resourceArn=created["arn"])["tags"] == [
        {"key": "team", "value": "web"}
    ]

    # GetService's spec lists it; the pipeline ran again and builds for it too.
    proton.get_waiter("service_updated").wait(name=web, WaiterConfig=FAST)
    service = proton.get_service(name=web)["service"]
    assert _spec_entries(service)["four"] == {
        "name": "four",
        "environment": ENV,
        "spec": {"port": 8004, "image": "caddy"},
    }
    assert service["pipeline"]["deploymentStatus"] == "SUCCEEDED"
    pipeline_outputs = outputs(proton.list_service_pipeline_outputs(serviceName=web)["outputs"])
    assert pipeline_outputs["Instances"] == (f"four=8004@{ENV};three=8003@{ENV};two=8002@{ENV};")


def test_current_val_keeps_the_deployed_value(proton: Any, cloudformation: Any, web: str) -> None:
    with pytest.raises(proton.exceptions.ValidationException, match="needs a current value"):
        proton.create_service_instance(
            serviceName=web,
            name="five",
            spec=service_spec([("five", ENV, {"image": "${Proton::CURRENT_VAL}"})]),
        )
    proton.update_service_instance(
        serviceName=web,
        name="two",
        deploymentType="CURRENT_VERSION",
        spec=service_spec([("two", ENV, {"port": 8002, "image": "httpd"})]),
    )
    proton.get_waiter("service_instance_deployed").wait(
        serviceName=web, name="two", WaiterConfig=FAST
    )

    proton.update_service_instance(
        serviceName=web,
        name="two",
        deploymentType="CURRENT_VERSION",
        spec=service_spec([("two", ENV, {"port": 9002, "image": "${Proton::CURRENT_VAL}"})]),
    )
    proton.get_waiter("service_instance_deployed").wait(
        serviceName=web, name="two", WaiterConfig=FAST
    )
    two = outputs(
        proton.list_service_instance_outputs(serviceName=web, serviceInstanceName="two")["outputs"]
    )
    assert (two["Port"], two["Image"]) == ("9002", "httpd")
    deployed = stack(cloudformation, "service-instance", web, "two")
    assert deployed is not None and stack_outputs(deployed)["Image"] == "httpd"
    # The stored specs say what runs, not the placeholder.
    instance = proton.get_service_instance(serviceName=web, name="two")["serviceInstance"]
    assert "CURRENT_VAL" not in instance["spec"]
    assert yaml.safe_load(instance["spec"])["instances"][0]["spec"] == {
        "port": 9002,
        "image": "httpd",
    }
    service = proton.get_service(name=web)["service"]
    assert _spec_entries(service)["two"]["spec"] == {"port": 9002, "image": "httpd"}

    # GetService's spec can be sent back to UpdateService as it is: it edits nothing.
    unchanged = proton.update_service(name=web, spec=service["spec"])["service"]
    assert unchanged["status"] == "ACTIVE"
    again = proton.get_service_instance(serviceName=web, name="two")["serviceInstance"]
    assert again["lastAttemptedDeploymentId"] == instance["lastAttemptedDeploymentId"]


def test_update_service_pipeline_current_and_minor_version(
    proton: Any, registry: Registry, web: str
) -> None:
    pipeline_only = "proton: ServiceSpec\npipeline:\n  dockerfile: Dockerfile.ci\n"
    updating = proton.update_service_pipeline(
        serviceName=web, deploymentType="CURRENT_VERSION", spec=pipeline_only
    )["pipeline"]
    assert updating["deploymentStatus"] == "IN_PROGRESS"
    proton.get_waiter("service_pipeline_deployed").wait(name=web, WaiterConfig=FAST)
    pipeline = proton.get_service(name=web)["service"]["pipeline"]
    assert (pipeline["templateMajorVersion"], pipeline["templateMinorVersion"]) == ("1", "0")
    assert pipeline["spec"] == pipeline_only
    pipeline_outputs = outputs(proton.list_service_pipeline_outputs(serviceName=web)["outputs"])
    assert pipeline_outputs["Dockerfile"] == "Dockerfile.ci"
    assert "Generation" not in pipeline_outputs
    deployment = proton.get_deployment(id=pipeline["lastSucceededDeploymentId"])["deployment"]
    assert deployment["targetState"] == {
        "servicePipeline": {
            "spec": pipeline_only,
            "templateName": SVC_TEMPLATE,
            "templateMajorVersion": "1",
            "templateMinorVersion": "0",
        }
    }
    # GetService's spec follows the pipeline.
    assert yaml.safe_load(proton.get_service(name=web)["service"]["spec"])["pipeline"] == {
        "dockerfile": "Dockerfile.ci"
    }

    with pytest.raises(proton.exceptions.ValidationException, match="CURRENT_VERSION keeps"):
        proton.update_service_pipeline(
            serviceName=web,
            deploymentType="CURRENT_VERSION",
            spec=pipeline_only,
            templateMajorVersion="1",
            templateMinorVersion="1",
        )

    # A new minor version, with ${Proton::CURRENT_VAL} keeping the pipeline's input.
    publish_service_template(
        registry, SVC_TEMPLATE, [(ENV_TEMPLATE, "1")], _bundle("one-one"), major="1"
    )
    proton.update_service_pipeline(
        serviceName=web,
        deploymentType="MINOR_VERSION",
        spec="proton: ServiceSpec\npipeline:\n  dockerfile: ${Proton::CURRENT_VAL}\n",
    )
    proton.get_waiter("service_pipeline_deployed").wait(name=web, WaiterConfig=FAST)
    pipeline = proton.get_service(name=web)["service"]["pipeline"]
    assert (pipeline["templateMajorVersion"], pipeline["templateMinorVersion"]) == ("1", "1")
    pipeline_outputs = outputs(proton.list_service_pipeline_outputs(serviceName=web)["outputs"])
    assert pipeline_outputs["Generation"] == "one-one"
    assert pipeline_outputs["Dockerfile"] == "Dockerfile.ci"
    assert yaml.safe_load(pipeline["spec"])["pipeline"] == {"dockerfile": "Dockerfile.ci"}


def test_major_version_needs_a_compatible_environment(
    proton: Any, registry: Registry, web: str
) -> None:
    # Major version 2 runs in the other environment template only.
    publish_service_template(registry, SVC_TEMPLATE, [(OTHER_TEMPLATE, "1")], _bundle("two"))
    before = proton.get_service_instance(serviceName=web, name="three")["serviceInstance"]
    with pytest.raises(proton.exceptions.ValidationException) as caught:
        proton.update_service_instance(
            serviceName=web, name="three", deploymentType="MAJOR_VERSION"
        )
    message = error_message(caught)
    assert ".environment: environment '" + ENV + "' runs " + ENV_TEMPLATE + ":1" in message
    assert message.startswith("instances[")
    assert "version 2.0 of this service template" in message
    assert f"compatible: {OTHER_TEMPLATE}:1" in message
    after = proton.get_service_instance(serviceName=web, name="three")["serviceInstance"]
    assert after["lastAttemptedDeploymentId"] == before["lastAttemptedDeploymentId"]
    assert (after["templateMajorVersion"], after["deploymentStatus"]) == ("1", "SUCCEEDED")


def test_service_without_a_pipeline(proton: Any, cloudformation: Any, registry: Registry) -> None:
    name = f"bare-{SUFFIX}"
    instances = [("solo", ENV, {"port": 7000})]
    for pipeline in ({"dockerfile": "Dockerfile"}, {}):
        with pytest.raises(proton.exceptions.ValidationException, match=r"spec\.pipeline"):
            proton.create_service(
                name=name,
                templateName=BARE_TEMPLATE,
                templateMajorVersion="1",
                spec=service_spec(instances, pipeline),
            )
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.get_service(name=name)

    # No repository is needed without a pipeline.
    proton.create_service(
        name=name,
        templateName=BARE_TEMPLATE,
        templateMajorVersion="1",
        spec=service_spec(instances),
    )
    proton.get_waiter("service_created").wait(name=name, WaiterConfig=FAST)
    service = proton.get_service(name=name)["service"]
    assert service["status"] == "ACTIVE"
    assert "pipeline" not in service
    assert stack(cloudformation, "service-pipeline", name) is None
    with pytest.raises(proton.exceptions.ResourceNotFoundException, match="has no pipeline"):
        proton.list_service_pipeline_outputs(serviceName=name)
    with pytest.raises(proton.exceptions.ResourceNotFoundException, match="has no pipeline"):
        proton.update_service_pipeline(
            serviceName=name, deploymentType="CURRENT_VERSION", spec="proton: ServiceSpec\n"
        )
    with pytest.raises(proton.exceptions.ValidationException, match=r"spec\.pipeline"):
        proton.update_service(name=name, spec=service_spec([*instances], {}))

    proton.update_service(name=name, spec=service_spec([*instances, ("duo", ENV, None)]))
    proton.get_waiter("service_updated").wait(name=name, WaiterConfig=FAST)
    assert _instance_names(proton, name) == ["duo", "solo"]
    assert "pipeline" not in proton.get_service(name=name)["service"]


def test_a_pipeline_needs_a_repository(proton: Any, registry: Registry) -> None:
    name = f"norepo-{SUFFIX}"
    spec = service_spec([("a", ENV, None)])
    with pytest.raises(proton.exceptions.ValidationException) as caught:
        proton.create_service(
            name=name, templateName=SVC_TEMPLATE, templateMajorVersion="1", spec=spec
        )
    assert "repositoryConnectionArn, repositoryId, branchName must be given" in error_message(
        caught
    )
    with pytest.raises(proton.exceptions.ValidationException) as caught:
        proton.create_service(
            name=name,
            templateName=SVC_TEMPLATE,
            templateMajorVersion="1",
            spec=spec,
            repositoryId="org/app",
        )
    assert "repositoryConnectionArn, branchName must be given" in error_message(caught)
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.get_service(name=name)


def test_create_service_checks_each_instance_environment(proton: Any, registry: Registry) -> None:
    name = f"picky-{SUFFIX}"
    cases = {
        f"instances[1].environment: environment '{OTHER_ENV}' runs {OTHER_TEMPLATE}:1": [
            ("a", ENV, None),
            ("b", OTHER_ENV, None),
        ],
        "instances[0].environment: the environment 'ghost' does not exist": [("a", "ghost", None)],
    }
    for fragment, instances in cases.items():
        with pytest.raises(proton.exceptions.ValidationException) as caught:
            proton.create_service(
                name=name,
                templateName=SVC_TEMPLATE,
                templateMajorVersion="1",
                spec=service_spec(instances),
                **REPO,
            )
        assert fragment in error_message(caught)
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.get_service(name=name)
    assert (
        proton.list_service_instances(filters=[{"key": "name", "value": "b"}])["serviceInstances"]
        == []
    )


def test_create_service_and_environment_are_idempotent(proton: Any, registry: Registry) -> None:
    name = f"twice-{SUFFIX}"
    request = {
        "name": name,
        "templateName": BARE_TEMPLATE,
        "templateMajorVersion": "1",
        "spec": service_spec([("a", ENV, None)]),
    }
    first = proton.create_service(**request)["service"]
    retry = proton.create_service(**request)["service"]
    assert (retry["arn"], retry["createdAt"]) == (first["arn"], first["createdAt"])
    with pytest.raises(proton.exceptions.ConflictException, match="already exists"):
        proton.create_service(**{**request, "spec": service_spec([("b", ENV, None)])})
    with pytest.raises(proton.exceptions.ConflictException, match="already exists"):
        proton.create_service(**{**request, "description": "another one"})
    proton.get_waiter("service_created").wait(name=name, WaiterConfig=FAST)
    assert _instance_names(proton, name) == ["a"]
    assert [
        d["serviceInstanceName"] for d in proton.list_deployments(serviceName=name)["deployments"]
    ] == ["a"]

    env = f"again{SUFFIX}"
    environment = {
        "name": env,
        "templateName": ENV_TEMPLATE,
        "templateMajorVersion": "1",
        "spec": env_spec(size="large"),
        "protonServiceRoleArn": "arn:aws:iam::123456789012:role/proton",
    }
    first_env = proton.create_environment(**environment)["environment"]
    retry_env = proton.create_environment(**environment)["environment"]
    assert retry_env["createdAt"] == first_env["createdAt"]
    assert retry_env["lastAttemptedDeploymentId"] == first_env["lastAttemptedDeploymentId"]
    with pytest.raises(proton.exceptions.ConflictException, match="already exists"):
        proton.create_environment(**{**environment, "spec": env_spec(size="small")})
    proton.get_waiter("environment_deployed").wait(name=env, WaiterConfig=FAST)
    assert len(proton.list_deployments(environmentName=env)["deployments"]) == 1
