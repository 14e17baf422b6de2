"""The aftermath of an AWS Proton account, made on a local cloud: what `baryon import` reads.

Proton is gone; what it left is stacks and what its users exported before it closed. This
builds both, as faithfully as the public record allows (reference proton-migration.md):

- stacks named as Proton named them (``AWSProton-<name[:15]>-cloudformation--<15 letters>``)
  and tagged ``proton:*``, their templates rendered by Baryon's own renderer from AWS's
  samples (fargate-env; load-balanced-fargate-svc for two services, three instances and a
  pipeline) and a component's inline IaC;
- an export directory of the JSON the AWS CLI prints, each document built from the Proton
  model's output shape (members checked against it, timestamps as the CLI prints them) with
  values taken from the stacks: outputs, provisioned resources, ARNs;
- the bundles of every version but one: the service template's 1.0 as a folder, 1.1 (which
  adds an output to the instance template) as an archive, 1.2 (DRAFT) as a template sync
  repository's ``v1/`` folder; the environment template's 1.0 has none, so an import must
  recover it from the environment's stack.

Matching is exercised three ways: most stacks carry Proton's tags, the pipeline's stack is
found by the provisioned resources exported for it, and the backend instance's by its name.
"""

from __future__ import annotations

import io
import json
import random
import shutil
import string
import tarfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from botocore.model import ListShape, MapShape, Shape, StructureShape

from baryon.bundles.limits import BundleLimits
from baryon.bundles.loader import Bundle, load_bundle
from baryon.render.context import (
    EnvironmentRef,
    InstanceRef,
    ServiceRef,
    component_namespace,
    environment_namespace,
    instance_namespace,
    pipeline_namespace,
)
from baryon.render.iac import render_section
from baryon.render.jinja import render_text
from baryon.service_models import PROTON, service_model
from tests.support.samples import SAMPLES

ACCOUNT = "123456789012"
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/proton-service"
COMPONENT_ROLE = f"arn:aws:iam::{ACCOUNT}:role/proton-components"
ENV_TEMPLATE = "fargate-env"
SVC_TEMPLATE = "lb-fargate-svc"
ENVIRONMENT = "fargate-env-prod"
FRONTEND, BACKEND = "frontend", "backend"
INSTANCES = {FRONTEND: ("web-one", "web-two"), BACKEND: ("api",)}
COMPONENT = "cache"
REPOSITORY = {
    "repositoryConnectionArn": f"arn:aws:codestar-connections:{REGION}:{ACCOUNT}:connection/x",
    "repositoryId": "acme/frontend",
    "branchName": "main",
}
# The minor version 1.1 adds this output to the instance template: an upgrade shows it.
UPGRADE_OUTPUT = "TemplateMinorVersion"
COMPONENT_IAC = """\
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: "{{ component.name }}-{{ environment.name }}-queue"
Outputs:
  QueueName:
    Value: !GetAtt Queue.QueueName
"""
_CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
_ENV_SAMPLE = SAMPLES / "environment-templates" / "fargate-env" / "v1"
_SVC_SAMPLE = SAMPLES / "service-templates" / "load-balanced-fargate-svc" / "v1"


def arn(resource: str) -> str:
    return f"arn:aws:proton:{REGION}:{ACCOUNT}:{resource}"


# --- documents shaped by the Proton model ------------------------------------------------------


def shaped(operation: str, document: dict[str, Any]) -> dict[str, Any]:
    """``document`` as `aws proton <operation>` prints it: every member is checked against
    the operation's output shape in the Proton model (an unknown or missing required member
    fails here, in the test's own code), datetimes become ISO 8601 as the CLI prints them."""
    shape = service_model(PROTON).operation_model(operation).output_shape
    assert shape is not None
    result: dict[str, Any] = _shaped(shape, document, operation)
    return result


def _shaped(shape: Shape, value: Any, where: str) -> Any:
    if isinstance(shape, StructureShape):
        assert isinstance(value, dict), where
        unknown = set(value) - set(shape.members)
        assert not unknown, f"{where}: {sorted(unknown)} are not members of {shape.name}"
        missing = set(shape.required_members) - set(value)
        assert not missing, f"{where}: {shape.name} requires {sorted(missing)}"
        return {
            name: _shaped(shape.members[name], item, f"{where}.{name}")
            for name, item in value.items()
        }
    if isinstance(shape, ListShape):
        assert isinstance(value, list), where
        return [_shaped(shape.member, item, f"{where}[]") for item in value]
    if isinstance(shape, MapShape):
        return {key: _shaped(shape.value, item, where) for key, item in value.items()}
    if shape.type_name == "timestamp":
        assert isinstance(value, datetime), where
        return value.isoformat()
    if shape.type_name == "string":
        assert isinstance(value, str), where
        allowed = shape.metadata.get("enum")
        assert not allowed or value in allowed, f"{where}: {value} is not one of {allowed}"
    return value


# --- the stacks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProtonStack:
    name: str
    stack_id: str
    outputs: dict[str, str]
    resources: list[tuple[str, str]]  # (logical id, physical id)


@dataclass
class Aftermath:
    """What was made: the export directory, and the stacks by the resource they hold
    ("environment", "frontend/web-one", "frontend pipeline", "component")."""

    export_dir: Path
    stacks: dict[str, ProtonStack] = field(default_factory=dict)
    deployment_ids: dict[str, str] = field(default_factory=dict)

    @property
    def every_stack(self) -> dict[str, str]:
        """Stack name -> stack id, for every stack made."""
        return {stack.name: stack.stack_id for stack in self.stacks.values()}


def _suffix() -> str:
    return "".join(random.choices(string.ascii_uppercase, k=15))


def _wait(cloudformation: Any, stack_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 180
    while True:
        stack: dict[str, Any] = cloudformation.describe_stacks(StackName=stack_id)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS"):
            assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
            return stack
        assert time.monotonic() < deadline, f"{stack['StackName']} is still {stack['StackStatus']}"
        time.sleep(0.1)


def _create_stack(
    cloudformation: Any, name: str, template: str, tags: dict[str, str]
) -> ProtonStack:
    stack_id = cloudformation.create_stack(
        StackName=name,
        TemplateBody=template,
        Capabilities=_CAPABILITIES,
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )["StackId"]
    stack = _wait(cloudformation, stack_id)
    resources = [
        (row["LogicalResourceId"], row.get("PhysicalResourceId", ""))
        for page in cloudformation.get_paginator("list_stack_resources").paginate(
            StackName=stack_id
        )
        for row in page["StackResourceSummaries"]
    ]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}
    return ProtonStack(name, stack_id, outputs, resources)


def _bundle(path: Path, kind: str) -> Bundle:
    return load_bundle(path, kind, limits=BundleLimits())  # type: ignore[arg-type]


def _files(path: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


def _with_upgrade_output(files: dict[str, bytes], minor: int) -> dict[str, bytes]:
    changed = dict(files)
    name = "instance_infrastructure/cloudformation.yaml"
    text = changed[name].decode()
    changed[name] = (text + f"  {UPGRADE_OUTPUT}:\n    Value: '{minor}'\n").encode()
    return changed


def _write_files(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# --- the export --------------------------------------------------------------------------------


class _Export:
    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, path: str, operation: str, document: dict[str, Any]) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        # As the AWS CLI prints JSON: four spaces, a trailing newline.
        target.write_text(json.dumps(shaped(operation, document), indent=4) + "\n")

    def outputs(self, path: str, operation: str, outputs: dict[str, str]) -> None:
        self.write(
            path,
            operation,
            {"outputs": [{"key": k, "valueString": v} for k, v in sorted(outputs.items())]},
        )

    def resources(self, path: str, operation: str, stack: ProtonStack) -> None:
        self.write(
            path,
            operation,
            {
                "provisionedResources": [
                    {
                        "name": logical,
                        "identifier": physical,
                        "provisioningEngine": "CLOUDFORMATION",
                    }
                    for logical, physical in stack.resources
                ]
            },
        )


def _deployed(when: datetime, deployment_id: str) -> dict[str, Any]:
    return {
        "createdAt": when,
        "deploymentStatus": "SUCCEEDED",
        "lastAttemptedDeploymentId": deployment_id,
        "lastSucceededDeploymentId": deployment_id,
        "lastDeploymentAttemptedAt": when,
        "lastDeploymentSucceededAt": when,
    }


def make_aftermath(cloudformation: Any, export_dir: Path) -> Aftermath:
    """Creates the stacks on the cloud ``cloudformation`` reaches and writes the export."""
    export = _Export(export_dir)
    made = Aftermath(export_dir)
    when = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
    environment_bundle = _bundle(_ENV_SAMPLE, "environment")
    service_files = _files(_SVC_SAMPLE)
    minor_files = {
        1: _with_upgrade_output(service_files, 1),
        2: _with_upgrade_output(service_files, 2),
    }
    service_bundle = _bundle(_SVC_SAMPLE, "service")

    # Templates and versions (Proton's GetTemplate/GetTemplateVersion answers).
    env_schema = (_ENV_SAMPLE / "schema" / "schema.yaml").read_text()
    svc_schema = (_SVC_SAMPLE / "schema" / "schema.yaml").read_text()
    export.write(
        f"environment-templates/{ENV_TEMPLATE}.json",
        "GetEnvironmentTemplate",
        {
            "environmentTemplate": {
                "arn": arn(f"environment-template/{ENV_TEMPLATE}"),
                "name": ENV_TEMPLATE,
                "displayName": "Fargate environment",
                "description": "VPC, subnets and an ECS cluster",
                "createdAt": when,
                "lastModifiedAt": when,
                "recommendedVersion": "1.0",
            }
        },
    )
    export.write(
        f"environment-templates/{ENV_TEMPLATE}/versions/1.0.json",
        "GetEnvironmentTemplateVersion",
        {
            "environmentTemplateVersion": {
                "arn": arn(f"environment-template/{ENV_TEMPLATE}:1.0"),
                "templateName": ENV_TEMPLATE,
                "majorVersion": "1",
                "minorVersion": "0",
                "recommendedMinorVersion": "0",
                "status": "PUBLISHED",
                "description": "the first one",
                "schema": env_schema,
                "createdAt": when,
                "lastModifiedAt": when,
            }
        },
    )
    export.write(
        f"environment-templates/{ENV_TEMPLATE}/tags.json",
        "ListTagsForResource",
        {"tags": [{"key": "team", "value": "platform"}]},
    )
    export.write(
        f"service-templates/{SVC_TEMPLATE}.json",
        "GetServiceTemplate",
        {
            "serviceTemplate": {
                "arn": arn(f"service-template/{SVC_TEMPLATE}"),
                "name": SVC_TEMPLATE,
                "displayName": "Load-balanced Fargate service",
                "createdAt": when,
                "lastModifiedAt": when,
                "recommendedVersion": "1.1",
            }
        },
    )
    for minor, status in ((0, "PUBLISHED"), (1, "PUBLISHED"), (2, "DRAFT")):
        export.write(
            f"service-templates/{SVC_TEMPLATE}/versions/1.{minor}.json",
            "GetServiceTemplateVersion",
            {
                "serviceTemplateVersion": {
                    "arn": arn(f"service-template/{SVC_TEMPLATE}:1.{minor}"),
                    "templateName": SVC_TEMPLATE,
                    "majorVersion": "1",
                    "minorVersion": str(minor),
                    "recommendedMinorVersion": "1",
                    "status": status,
                    "schema": svc_schema,
                    "compatibleEnvironmentTemplates": [
                        {"templateName": ENV_TEMPLATE, "majorVersion": "1"}
                    ],
                    "createdAt": when + timedelta(days=minor),
                    "lastModifiedAt": when + timedelta(days=minor),
                }
            },
        )
    # Bundles of all but the environment template's version: three forms.
    _write_files(export_dir / "bundles" / SVC_TEMPLATE / "v1.0", service_files)
    (export_dir / "bundles" / f"{SVC_TEMPLATE}-1.1.tar.gz").write_bytes(_tar_gz(minor_files[1]))
    _write_files(export_dir / "bundles" / "service-templates" / SVC_TEMPLATE / "v1", minor_files[2])

    # The environment.
    env_doc = yaml.safe_load(
        (SAMPLES / "environment-templates/fargate-env/spec/spec.yaml").read_text()
    )
    env_spec = yaml.safe_dump(env_doc, sort_keys=False)
    assert environment_bundle.schema.environment_input_type
    env_inputs = environment_bundle.schema.resolve_inputs(
        environment_bundle.schema.environment_input_type, env_doc["spec"], where="spec"
    ).values
    env_arn = arn(f"environment/{ENVIRONMENT}")
    env_ref = EnvironmentRef(ENVIRONMENT, ACCOUNT, dict(env_inputs))
    assert environment_bundle.infrastructure is not None
    rendered = render_section(
        environment_bundle.infrastructure,
        environment_namespace(env_ref),
        kind="environment",
        resource_arn=env_arn,
        proton_tags={},
    )
    base_tags = {"proton:account": ACCOUNT}
    env_stack = _create_stack(
        cloudformation,
        f"AWSProton-{ENVIRONMENT[:15]}-cloudformation--{_suffix()}",
        rendered.files["cloudformation.yaml"],
        {
            **base_tags,
            "proton:template": arn(f"environment-template/{ENV_TEMPLATE}"),
            "proton:environment": env_arn,
        },
    )
    made.stacks["environment"] = env_stack
    env_ref = EnvironmentRef(ENVIRONMENT, ACCOUNT, dict(env_inputs), env_stack.outputs)
    deployment = made.deployment_ids["environment"] = str(uuid.uuid4())
    export.write(
        f"environments/{ENVIRONMENT}.json",
        "GetEnvironment",
        {
            "environment": {
                "arn": env_arn,
                "name": ENVIRONMENT,
                "templateName": ENV_TEMPLATE,
                "templateMajorVersion": "1",
                "templateMinorVersion": "0",
                "protonServiceRoleArn": ROLE,
                "componentRoleArn": COMPONENT_ROLE,
                "spec": env_spec,
                **_deployed(when, deployment),
            }
        },
    )
    export.outputs(
        f"environments/{ENVIRONMENT}/outputs.json", "ListEnvironmentOutputs", env_stack.outputs
    )
    export.resources(
        f"environments/{ENVIRONMENT}/provisioned-resources.json",
        "ListEnvironmentProvisionedResources",
        env_stack,
    )
    export.write(
        f"environments/{ENVIRONMENT}/tags.json",
        "ListTagsForResource",
        {"tags": [{"key": "cost-center", "value": "42"}]},
    )

    # Two services, their instances, the frontend's pipeline.
    svc_doc = yaml.safe_load(
        (SAMPLES / "service-templates/load-balanced-fargate-svc/spec/spec.yaml").read_text()
    )
    schema = service_bundle.schema
    assert schema.service_input_type and schema.pipeline_input_type
    for service, names in INSTANCES.items():
        minor = 1 if service == BACKEND else 0
        document: dict[str, Any] = {"proton": "ServiceSpec"}
        if service == FRONTEND:
            document["pipeline"] = svc_doc["pipeline"]
        document["instances"] = [
            {"name": name, "environment": ENVIRONMENT, "spec": {"desired_count": index + 1}}
            for index, name in enumerate(names)
        ]
        spec = yaml.safe_dump(document, sort_keys=False)
        service_ref = ServiceRef(
            service,
            **(
                {
                    "branch_name": REPOSITORY["branchName"],
                    "repository_connection_arn": REPOSITORY["repositoryConnectionArn"],
                    "repository_id": REPOSITORY["repositoryId"],
                }
                if service == FRONTEND
                else {}
            ),
        )
        section = _bundle_of(service_files if minor == 0 else minor_files[1], export_dir, minor)
        refs = []
        for entry in document["instances"]:
            name = entry["name"]
            inputs = schema.resolve_inputs(
                schema.service_input_type, entry["spec"], where="spec"
            ).values
            instance_arn = arn(f"service/{service}/service-instance/{name}")
            rendered = render_section(
                section.instance,  # type: ignore[arg-type]
                instance_namespace(service_ref, InstanceRef(name, dict(inputs), {}, env_ref)),
                kind="service_instance",
                resource_arn=instance_arn,
                proton_tags={},
            )
            tags = {
                **base_tags,
                "proton:template": arn(f"service-template/{SVC_TEMPLATE}"),
                "proton:environment": env_arn,
                "proton:service": arn(f"service/{service}"),
                "proton:service-instance": instance_arn,
            }
            # The backend's stack lost its tags: only its name says whose it is.
            stack = _create_stack(
                cloudformation,
                f"AWSProton-{service[:15]}-{name[:15]}-cloudformation-{_suffix()}",
                rendered.files["cloudformation.yaml"],
                {} if service == BACKEND else tags,
            )
            made.stacks[f"{service}/{name}"] = stack
            refs.append(InstanceRef(name, dict(inputs), stack.outputs, env_ref))
            deployment = made.deployment_ids[f"{service}/{name}"] = str(uuid.uuid4())
            folder = f"services/{service}/instances/{name}"
            export.write(
                f"{folder}.json",
                "GetServiceInstance",
                {
                    "serviceInstance": {
                        "arn": instance_arn,
                        "name": name,
                        "serviceName": service,
                        "environmentName": ENVIRONMENT,
                        "templateName": SVC_TEMPLATE,
                        "templateMajorVersion": "1",
                        "templateMinorVersion": str(minor),
                        "spec": spec,
                        **_deployed(when, deployment),
                    }
                },
            )
            export.outputs(f"{folder}/outputs.json", "ListServiceInstanceOutputs", stack.outputs)
            if service != BACKEND:
                export.resources(
                    f"{folder}/provisioned-resources.json",
                    "ListServiceInstanceProvisionedResources",
                    stack,
                )
        service_document: dict[str, Any] = {
            "arn": arn(f"service/{service}"),
            "name": service,
            "templateName": SVC_TEMPLATE,
            "spec": spec,
            "status": "ACTIVE",
            "createdAt": when,
            "lastModifiedAt": when,
        }
        if service == FRONTEND:
            service_document.update(REPOSITORY)
            pipeline_inputs = schema.resolve_inputs(
                schema.pipeline_input_type, document["pipeline"], where="pipeline"
            ).values
            rendered = render_section(
                section.pipeline,  # type: ignore[arg-type]
                pipeline_namespace(service_ref, dict(pipeline_inputs), refs),
                kind="pipeline",
                resource_arn=arn(f"service/{service}/pipeline"),
                proton_tags={},
            )
            # No tags on the pipeline's stack: its exported provisioned resources find it.
            stack = _create_stack(
                cloudformation,
                f"AWSProton-{service[:15]}-cloudformation--{_suffix()}",
                rendered.files["cloudformation.yaml"],
                {},
            )
            made.stacks[f"{service} pipeline"] = stack
            deployment = made.deployment_ids[f"{service} pipeline"] = str(uuid.uuid4())
            service_document["pipeline"] = {
                "arn": arn(f"service/{service}/pipeline"),
                "templateName": SVC_TEMPLATE,
                "templateMajorVersion": "1",
                "templateMinorVersion": "0",
                "spec": spec,
                **_deployed(when, deployment),
            }
            export.outputs(
                f"services/{service}/pipeline-outputs.json",
                "ListServicePipelineOutputs",
                stack.outputs,
            )
            export.resources(
                f"services/{service}/pipeline-provisioned-resources.json",
                "ListServicePipelineProvisionedResources",
                stack,
            )
        export.write(f"services/{service}.json", "GetService", {"service": service_document})

    # A component in the environment, its IaC in its last deployment.
    component_arn = arn(f"component/{COMPONENT}")
    text = render_text(COMPONENT_IAC, component_namespace(COMPONENT, env_ref), file="component")
    stack = _create_stack(
        cloudformation,
        f"AWSProton-{COMPONENT[:15]}-cloudformation--{_suffix()}",
        text,
        {**base_tags, "proton:environment": env_arn, "proton:component": component_arn},
    )
    made.stacks["component"] = stack
    deployment = made.deployment_ids["component"] = str(uuid.uuid4())
    export.write(
        f"components/{COMPONENT}.json",
        "GetComponent",
        {
            "component": {
                "arn": component_arn,
                "name": COMPONENT,
                "environmentName": ENVIRONMENT,
                "description": "a queue",
                "lastModifiedAt": when,
                **_deployed(when, deployment),
            }
        },
    )
    export.outputs(f"components/{COMPONENT}/outputs.json", "ListComponentOutputs", stack.outputs)
    export.resources(
        f"components/{COMPONENT}/provisioned-resources.json",
        "ListComponentProvisionedResources",
        stack,
    )
    export.write(
        f"deployments/{deployment}.json",
        "GetDeployment",
        {
            "deployment": {
                "arn": arn(f"deployment/{deployment}"),
                "id": deployment,
                "componentName": COMPONENT,
                "environmentName": ENVIRONMENT,
                "deploymentStatus": "SUCCEEDED",
                "targetArn": component_arn,
                "targetResourceType": "COMPONENT",
                "targetResourceCreatedAt": when,
                "createdAt": when,
                "lastModifiedAt": when,
                "completedAt": when,
                "targetState": {"component": {"templateFile": COMPONENT_IAC}},
            }
        },
    )
    export.write(
        "account-settings.json",
        "GetAccountSettings",
        {"accountSettings": {"pipelineServiceRoleArn": ROLE}},
    )
    return made


def _bundle_of(files: dict[str, bytes], scratch_root: Path, minor: int) -> Bundle:
    """The bundle of ``files`` (loaded from a scratch folder beside the export)."""
    scratch = scratch_root.parent / f".bundle-1.{minor}-{uuid.uuid4().hex[:6]}"
    _write_files(scratch, files)
    try:
        return _bundle(scratch, "service")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
