"""Every bundle AWS published for Proton deploys on the local cloud, as a new user would do it.

Through boto3 and the Proton API only: the 6 environment templates with the specs beside them,
the 17 service templates with two instances each and their pipelines, and the component; then
one of each kind moves to a new minor version, and everything is deleted. Outputs must flow:
environment -> instance -> pipeline, component -> instance.

The smallest changes to the samples' own specs, each needed and nothing more:
- Environments are named after their template: two samples' specs both name their
  environment "Beta", and names are unique in an account. Each template gets two
  environments, ``<template>-prod`` and ``<template>-staging``.
- Each service gets a second instance, a copy of the first named ``<first>-2``; the first goes
  to the prod environment of its bundle's compatible template, the second to staging.
  (Two instances in one environment would not do for every sample: backend-ecs-ec2-svc adds
  an ingress rule to the environment's host security group, and AWS refuses the same rule
  twice.) For the same reason load-balanced-ecs-ec2-svc, which adds that same rule, gets
  environments of its own (``<template>-2-prod``, ``<template>-2-staging``).
- Services are named after their template, but for the two whose target group is named
  ``<service>--<instance>`` cut to 29 characters: with a long service name both instances'
  groups get the same name, which AWS refuses as a duplicate too.
- lambda-multi-svc's spec writes ``packaging_commands``; its schema's input is
  ``packaging_command`` (a typo Proton would refuse the same way).
- The new minor versions are the samples' bundles with one more output, so that an upgrade
  is a real stack update whose effect the test can see.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from baryon.provisioners.names import stack_name_for
from tests.support.bundles import Registry, tar_gz
from tests.support.deploying import REPO, live_stacks, outputs, settled
from tests.support.processes import BaryonProcess, own_baryon
from tests.support.samples import SAMPLES, Sample, sample_bundles

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples is absent")

FAST = {"Delay": 0.5, "MaxAttempts": 600}
ROLE = "arn:aws:iam::123456789012:role/proton-service"
COMPONENT_ROLE = "arn:aws:iam::123456789012:role/proton-components"
UPGRADE_OUTPUT = "BaryonSampleUpgrade"
SPEC_TYPOS = {"packaging_commands": "packaging_command"}
SERVICE_NAMES = {"loadbalanced-fargate-svc": "lb-fargate", "loadbalanced-public-svc": "lb-public"}
OWN_ENVIRONMENTS = {"load-balanced-ecs-ec2-svc": "-2"}
# Folders holding two service templates have a spec for each, told apart by file name.
SPEC_FILES = {
    "loadbalanced-public-svc": "svc-public-spec.yaml",
    "private-fargate-svc": "svc-private-spec.yaml",
}


@dataclass
class Fleet:
    """What the module deployed, for the tests that follow to check, upgrade and delete."""

    environments: dict[str, str] = field(default_factory=dict)  # environment -> template
    services: dict[str, Sample] = field(default_factory=dict)  # service -> bundle
    instances: dict[str, list[str]] = field(default_factory=dict)  # service -> instances
    component_instance: tuple[str, str] | None = None  # (service, instance)


server = own_baryon(
    "samples", env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.2", "BARYON_WORKERS": "4"}
)


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    return server.client("proton")


@pytest.fixture(scope="module")
def cloudformation(server: BaryonProcess) -> Any:
    return server.client("cloudformation", endpoint_url=server.cloud_endpoint)


@pytest.fixture(scope="module")
def registry(server: BaryonProcess, proton: Any) -> Registry:
    return Registry(proton, server.client("s3"))


@pytest.fixture(scope="module")
def environments(proton: Any, registry: Registry) -> Fleet:
    """Publishes every sample and creates the environments, waiting until each settles."""
    fleet = Fleet()
    bundles = sample_bundles()
    for bundle in bundles:
        _publish(registry, bundle, bundle.files())
    for bundle in bundles:
        if bundle.kind != "environment":
            continue
        for name in _environments_of(bundle.template):
            proton.create_environment(
                name=name,
                templateName=bundle.template,
                templateMajorVersion="1",
                protonServiceRoleArn=ROLE,
                componentRoleArn=COMPONENT_ROLE,
                spec=_environment_spec(bundle),
            )
            fleet.environments[name] = bundle.template
    for name in fleet.environments:
        settled(lambda n=name: proton.get_environment(name=n), "environment", timeout=300)
    return fleet


@pytest.fixture(scope="module")
def fleet(proton: Any, environments: Fleet) -> Fleet:
    """Creates every service on the environments; waits for none."""
    fleet = environments
    for name in fleet.environments:
        _wait_environment(proton, name)
    for bundle in sample_bundles():
        if bundle.kind == "service":
            spec = _service_spec(bundle, fleet)
            service = SERVICE_NAMES.get(bundle.template, bundle.template)
            proton.create_service(
                name=service,
                templateName=bundle.template,
                templateMajorVersion="1",
                spec=yaml.safe_dump(spec, sort_keys=False),
                **(REPO if "pipeline" in spec else {}),
            )
            fleet.services[service] = bundle
            fleet.instances[service] = [i["name"] for i in spec["instances"]]
    return fleet


def _publish(
    registry: Registry, bundle: Sample, files: dict[str, bytes], major: str | None = None
) -> dict[str, Any]:
    extra: dict[str, Any] = {"majorVersion": major} if major else {}
    if bundle.kind == "service":
        extra["compatibleEnvironmentTemplates"] = [
            {"templateName": name, "majorVersion": version}
            for name, version in bundle.compatible_environments
        ]
        if bundle.reads_components:
            extra["supportedComponentSources"] = ["DIRECTLY_DEFINED"]
    registry.ensure_template(bundle.kind, bundle.template)
    version = registry.register(bundle.kind, bundle.template, tar_gz(dict(files)), **extra)
    assert version["status"] == "DRAFT", f"{bundle.id}: {version.get('statusMessage')}"
    return registry.publish(bundle.kind, bundle.template, version)


def _environments_of(template: str) -> list[str]:
    """Every environment the module makes of an environment template."""
    variants = {""} | {
        OWN_ENVIRONMENTS[b.template]
        for b in sample_bundles()
        if b.template in OWN_ENVIRONMENTS and b.compatible_environments[0][0] == template
    }
    return [name for variant in sorted(variants) for name in _environment_names(template, variant)]


def _environment_names(template: str, variant: str = "") -> tuple[str, str]:
    return f"{template}{variant}-prod", f"{template}{variant}-staging"


def _environment_spec(bundle: Sample) -> str:
    documents = bundle.spec_documents().values()
    (document,) = [d for d in documents if d.get("proton") == "EnvironmentSpec"]
    return yaml.safe_dump(document, sort_keys=False)


def _service_spec(bundle: Sample, fleet: Fleet) -> dict[str, Any]:
    documents = bundle.spec_documents()
    if bundle.template in SPEC_FILES:
        document = documents[SPEC_FILES[bundle.template]]
    else:
        (document,) = [d for d in documents.values() if d.get("proton") == "ServiceSpec"]
    ((compatible, _major),) = bundle.compatible_environments
    prod, staging = _environment_names(compatible, OWN_ENVIRONMENTS.get(bundle.template, ""))
    first = {**document["instances"][0], "environment": prod}
    second = {**first, "name": f"{first['name']}-2", "environment": staging}
    spec: dict[str, Any] = {"proton": "ServiceSpec", "instances": [first, second]}
    if bundle.has_pipeline:
        pipeline = document.get("pipeline") or {}
        spec["pipeline"] = {SPEC_TYPOS.get(k, k): v for k, v in pipeline.items()}
    return spec


def _wait_environment(proton: Any, name: str) -> dict[str, Any]:
    current = settled(lambda: proton.get_environment(name=name), "environment", timeout=300)
    assert current["deploymentStatus"] == "SUCCEEDED", (
        name,
        current.get("deploymentStatusMessage"),
    )
    return current


def _wait_instance(proton: Any, service: str, name: str) -> dict[str, Any]:
    current = settled(
        lambda: proton.get_service_instance(serviceName=service, name=name),
        "serviceInstance",
        timeout=300,
    )
    assert current["deploymentStatus"] == "SUCCEEDED", (
        service,
        name,
        current.get("deploymentStatusMessage"),
    )
    return current


def _wait_pipeline(proton: Any, service: str) -> dict[str, Any]:
    current = settled(
        lambda: {"pipeline": proton.get_service(name=service)["service"]["pipeline"]},
        "pipeline",
        timeout=300,
    )
    assert current["deploymentStatus"] == "SUCCEEDED", (
        service,
        current.get("deploymentStatusMessage"),
    )
    return current


def test_every_sample_environment_deploys(proton: Any, environments: Fleet) -> None:
    assert set(environments.environments.values()) == {
        b.template for b in sample_bundles() if b.kind == "environment"
    }
    assert len(environments.environments) == 14
    for name in environments.environments:
        _wait_environment(proton, name)
        assert outputs(proton.list_environment_outputs(environmentName=name)["outputs"]), name


def test_every_sample_service_deploys_two_instances_and_a_pipeline(
    proton: Any, fleet: Fleet
) -> None:
    assert len(fleet.services) == 17
    pipelines = 0
    for service, bundle in fleet.services.items():
        for instance in fleet.instances[service]:
            _wait_instance(proton, service, instance)
        if bundle.has_pipeline:
            _wait_pipeline(proton, service)
            pipelines += 1
        proton.get_waiter("service_created").wait(name=service, WaiterConfig=FAST)
    assert pipelines == 17


def test_environment_outputs_reach_instances_and_instance_outputs_reach_pipelines(
    proton: Any, cloudformation: Any, fleet: Fleet
) -> None:
    """Every output an instance template reads from its environment (whatever its inputs) is
    in the instance's stack as the environment stack made it; pipelines see their instances."""
    checked = 0
    for service, bundle in fleet.services.items():
        read = bundle.environment_outputs_read()
        for instance in fleet.instances[service]:
            environment = proton.get_service_instance(serviceName=service, name=instance)[
                "serviceInstance"
            ]["environmentName"]
            listed = proton.list_environment_outputs(environmentName=environment)["outputs"]
            env_outputs = outputs(listed)
            assert read <= set(env_outputs), (service, read - set(env_outputs))
            body = _stack_template(cloudformation, "service-instance", service, instance)
            for name in read:
                assert env_outputs[name] in body, (service, instance, name)
                checked += 1
        if bundle.lists_instances_in_pipeline:
            # The sample pipelines read each instance's name and environment (none reads an
            # instance output): a deploy stage per instance, named after it.
            pipeline = _stack_template(cloudformation, "service-pipeline", service)
            for instance in fleet.instances[service]:
                assert instance in pipeline, (service, instance)
                checked += 1
    assert checked > 100


def _stack_template(cloudformation: Any, kind: str, *names: str) -> str:
    body = cloudformation.get_template(StackName=stack_name_for(kind, *names))["TemplateBody"]
    return body if isinstance(body, str) else str(body)


def test_the_component_deploys_and_feeds_its_instance(
    proton: Any, cloudformation: Any, fleet: Fleet
) -> None:
    (service,) = [s for s, b in fleet.services.items() if b.reads_components]
    instance = fleet.instances[service][0]
    files = SAMPLES / "component-templates" / "s3-bucket-component"
    proton.create_component(
        name="s3-bucket",
        serviceName=service,
        serviceInstanceName=instance,
        manifest=(files / "manifest.yaml").read_text(),
        templateFile=(files / "cloudformation.yaml").read_text(),
    )
    proton.get_waiter("component_deployed").wait(name="s3-bucket", WaiterConfig=FAST)
    component_outputs = outputs(proton.list_component_outputs(componentName="s3-bucket")["outputs"])
    assert component_outputs
    # The instance takes the component's outputs on its next deployment.
    proton.update_service_instance(
        serviceName=service, name=instance, deploymentType="CURRENT_VERSION"
    )
    _wait_instance(proton, service, instance)
    body = _stack_template(cloudformation, "service-instance", service, instance)
    for value in component_outputs.values():
        assert value in body, value
    fleet.component_instance = (service, instance)


def test_one_of_each_kind_upgrades_to_a_new_minor_version(
    proton: Any, registry: Registry, fleet: Fleet
) -> None:
    environment_bundle = next(b for b in sample_bundles() if b.template == "fargate-env")
    service = "load-balanced-fargate-svc"
    service_bundle = fleet.services[service]
    for bundle in (environment_bundle, service_bundle):
        published = _publish(registry, bundle, _with_upgrade_output(bundle), major="1")
        assert published["minorVersion"] == "1"
    environment = "fargate-env-prod"
    proton.update_environment(
        name=environment, deploymentType="MINOR_VERSION", templateMinorVersion="1"
    )
    assert _wait_environment(proton, environment)["templateMinorVersion"] == "1"
    env_outputs = outputs(proton.list_environment_outputs(environmentName=environment)["outputs"])
    assert env_outputs[UPGRADE_OUTPUT] == "1.1"

    instance = fleet.instances[service][1]
    proton.update_service_instance(
        serviceName=service, name=instance, deploymentType="MINOR_VERSION", templateMinorVersion="1"
    )
    assert _wait_instance(proton, service, instance)["templateMinorVersion"] == "1"
    instance_outputs = outputs(
        proton.list_service_instance_outputs(serviceName=service, serviceInstanceName=instance)[
            "outputs"
        ]
    )
    assert instance_outputs[UPGRADE_OUTPUT] == "1.1"

    proton.update_service_pipeline(
        serviceName=service,
        spec=proton.get_service(name=service)["service"]["spec"],
        deploymentType="MINOR_VERSION",
        templateMinorVersion="1",
    )
    assert _wait_pipeline(proton, service)["templateMinorVersion"] == "1"
    pipeline_outputs = outputs(proton.list_service_pipeline_outputs(serviceName=service)["outputs"])
    assert pipeline_outputs[UPGRADE_OUTPUT] == "1.1"

    assert fleet.component_instance is not None
    proton.update_component(
        name="s3-bucket",
        deploymentType="CURRENT_VERSION",
        templateFile=_with_output(
            (SAMPLES / "component-templates/s3-bucket-component/cloudformation.yaml").read_text()
        ),
    )
    proton.get_waiter("component_deployed").wait(name="s3-bucket", WaiterConfig=FAST)
    component_outputs = outputs(proton.list_component_outputs(componentName="s3-bucket")["outputs"])
    assert component_outputs[UPGRADE_OUTPUT] == "1.1"


def _wait_gone(read: Any, proton: Any, timeout: float = 120) -> None:
    """Proton has no waiter for a deleted environment: polls until it is not found."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            current = read()
        except proton.exceptions.ResourceNotFoundException:
            return
        view = current["environment"]
        assert view["deploymentStatus"] != "DELETE_FAILED", view.get("deploymentStatusMessage")
        assert time.monotonic() < deadline, f"still there: {view}"
        time.sleep(0.5)


def _with_upgrade_output(bundle: Sample) -> dict[str, bytes]:
    return {
        path: _with_output(text.decode()).encode() if path.endswith("cloudformation.yaml") else text
        for path, text in bundle.files().items()
    }


def _with_output(template: str) -> str:
    """The template with one more output; every sample template ends in its Outputs block
    (or has none), indented as its other outputs are."""
    found = re.search(r"^Outputs:\s*\n([ \t]+)\S", template, re.MULTILINE)
    if found is None:
        return template.rstrip("\n") + f"\nOutputs:\n  {UPGRADE_OUTPUT}:\n    Value: '1.1'\n"
    indent = found.group(1)
    tail = re.search(r"\n[A-Za-z]", template[found.end() :])
    assert tail is None, "Outputs is not the last block"
    return template.rstrip("\n") + f"\n{indent}{UPGRADE_OUTPUT}:\n{indent * 2}Value: '1.1'\n"


def test_everything_deletes(proton: Any, cloudformation: Any, fleet: Fleet) -> None:
    # As Proton asks: a component is detached from its instance before it goes.
    proton.update_component(
        name="s3-bucket", deploymentType="CURRENT_VERSION", serviceName="", serviceInstanceName=""
    )
    proton.get_waiter("component_deployed").wait(name="s3-bucket", WaiterConfig=FAST)
    proton.delete_component(name="s3-bucket")
    proton.get_waiter("component_deleted").wait(name="s3-bucket", WaiterConfig=FAST)
    for service in fleet.services:
        proton.delete_service(name=service)
    for service in fleet.services:
        proton.get_waiter("service_deleted").wait(name=service, WaiterConfig=FAST)
    for environment in fleet.environments:
        proton.delete_environment(name=environment)
    for environment in fleet.environments:
        _wait_gone(lambda e=environment: proton.get_environment(name=e), proton)
    assert live_stacks(cloudformation, "") == {}
