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

Without an export directory (``make_aftermath(cloudformation, None)``) only the stacks are
made, every one of them tagged: what an account shows when nobody exported anything.
"""

from __future__ import annotations

import io
import json
import random
import shutil
import string
import tarfile
import tempfile
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

    export_dir: Path | None
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
    def __init__(self, root: Path | None) -> None:
        self.root = root  # None: nothing is exported

    def write(self, path: str, operation: str, document: dict[str, Any]) -> None:
        if self.root is None:
            return
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


def make_aftermath(cloudformation: Any, export_dir: Path | None) -> Aftermath:
    """Creates the stacks on the cloud ``cloudformation`` reaches and writes the export
    (None: none, and every stack keeps its tags)."""
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
    if export_dir is not None:
        bundles = export_dir / "bundles"
        _write_files(bundles / SVC_TEMPLATE / "v1.0", service_files)
        (bundles / f"{SVC_TEMPLATE}-1.1.tar.gz").write_bytes(_tar_gz(minor_files[1]))
        _write_files(bundles / "service-templates" / SVC_TEMPLATE / "v1", minor_files[2])

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
        section = _bundle_of(service_files if minor == 0 else minor_files[1], minor)
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
                {} if service == BACKEND and export_dir is not None else tags,
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
            pipeline_tags = {
                **base_tags,
                "proton:template": arn(f"service-template/{SVC_TEMPLATE}"),
                "proton:service": arn(f"service/{service}"),
            }
            stack = _create_stack(
                cloudformation,
                f"AWSProton-{service[:15]}-cloudformation--{_suffix()}",
                rendered.files["cloudformation.yaml"],
                {} if export_dir is not None else pipeline_tags,
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


def _bundle_of(files: dict[str, bytes], minor: int) -> Bundle:
    """The bundle of ``files`` (loaded from a scratch folder)."""
    scratch = Path(tempfile.mkdtemp(prefix=f"bundle-1.{minor}-"))
    _write_files(scratch, files)
    try:
        return _bundle(scratch, "service")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# --- self-managed provisioning: Terraform proposed to a repository by pull request -----------

TF_ENV_TEMPLATE = "tf-env"
TF_SVC_TEMPLATE = "tf-svc"
TF_ENVIRONMENT = "tf-env-dev"
TF_SERVICE, TF_INSTANCE = "tf-app", "dev"
INFRA_REPOSITORY = "acme/infra"
_TF_MANIFEST = """\
infrastructure:
  templates:
    - file: "*"
      rendering_engine: hcl
      template_language: terraform
"""
_TF_ENV_SCHEMA = """\
schema:
  format:
    openapi: "3.0.0"
  environment_input_type: "EnvInput"
  types:
    EnvInput:
      type: object
      properties:
        size:
          type: string
          default: small
"""
_TF_SVC_SCHEMA = """\
schema:
  format:
    openapi: "3.0.0"
  service_input_type: "SvcInput"
  types:
    SvcInput:
      type: object
      properties:
        port:
          type: number
          default: 80
"""
_TF_ENV = 'output "Network" {\n  value = "${var.environment.name}-net"\n}\n'
_TF_INSTANCE = 'output "App" {\n  value = "${var.service.name}-${var.service_instance.name}"\n}\n'


@dataclass(frozen=True)
class SelfManaged:
    """What add_self_managed made: the provisioning repository's commit, and the deployment
    id each resource's metadata file holds ("environment", "instance")."""

    commit: str
    deployment_ids: dict[str, str]
    outputs: dict[str, dict[str, str]]


def add_self_managed(export_dir: Path, repository: Path, git: Any) -> SelfManaged:
    """Adds to the export a self-managed Terraform environment whose provisioningRepository
    is ``acme/infra`` (GITHUB) and a service with one instance in it, and commits to the work
    tree ``repository`` (a clone; ``git(cwd, *args)`` runs git) the folders Proton's pull
    requests left, each with its ``.proton/deployment-metadata.json`` (reference
    proton-migration.md 6), then pushes them to its origin's main."""
    export = _Export(export_dir)
    when = datetime(2025, 4, 1, 8, 0, tzinfo=UTC)
    env_arn = arn(f"environment/{TF_ENVIRONMENT}")
    instance_arn = arn(f"service/{TF_SERVICE}/service-instance/{TF_INSTANCE}")
    ids = {"environment": str(uuid.uuid4()), "instance": str(uuid.uuid4())}
    outputs = {
        "environment": {"Network": f"{TF_ENVIRONMENT}-net"},
        "instance": {"App": f"{TF_SERVICE}-{TF_INSTANCE}"},
    }
    for kind, name, schema, section, body in (
        ("environment", TF_ENV_TEMPLATE, _TF_ENV_SCHEMA, "infrastructure", _TF_ENV),
        ("service", TF_SVC_TEMPLATE, _TF_SVC_SCHEMA, "instance_infrastructure", _TF_INSTANCE),
    ):
        word = "Environment" if kind == "environment" else "Service"
        member = f"{kind}Template"
        template: dict[str, Any] = {
            "arn": arn(f"{kind}-template/{name}"),
            "name": name,
            "createdAt": when,
            "lastModifiedAt": when,
            "recommendedVersion": "1.0",
        }
        if kind == "service":
            template["pipelineProvisioning"] = "CUSTOMER_MANAGED"  # no pipeline in Baryon
        export.write(f"{kind}-templates/{name}.json", f"Get{word}Template", {member: template})
        version: dict[str, Any] = {
            "arn": arn(f"{kind}-template/{name}:1.0"),
            "templateName": name,
            "majorVersion": "1",
            "minorVersion": "0",
            "status": "PUBLISHED",
            "schema": schema,
            "createdAt": when,
            "lastModifiedAt": when,
        }
        if kind == "service":
            version["compatibleEnvironmentTemplates"] = [
                {"templateName": TF_ENV_TEMPLATE, "majorVersion": "1"}
            ]
        export.write(
            f"{kind}-templates/{name}/versions/1.0.json",
            f"Get{word}TemplateVersion",
            {f"{member}Version": version},
        )
        _write_files(
            export_dir / "bundles" / name / "v1.0",
            {
                "schema/schema.yaml": schema.encode(),
                f"{section}/manifest.yaml": _TF_MANIFEST.encode(),
                f"{section}/main.tf": body.encode(),
            },
        )
    export.write(
        f"environments/{TF_ENVIRONMENT}.json",
        "GetEnvironment",
        {
            "environment": {
                "arn": env_arn,
                "name": TF_ENVIRONMENT,
                "templateName": TF_ENV_TEMPLATE,
                "templateMajorVersion": "1",
                "templateMinorVersion": "0",
                "provisioningRepository": {
                    "arn": arn(f"repository/github/{INFRA_REPOSITORY}"),
                    "branch": "main",
                    "name": INFRA_REPOSITORY,
                    "provider": "GITHUB",
                },
                "spec": "proton: EnvironmentSpec\nspec:\n  size: large\n",
                **_deployed(when, ids["environment"]),
            }
        },
    )
    export.outputs(
        f"environments/{TF_ENVIRONMENT}/outputs.json",
        "ListEnvironmentOutputs",
        outputs["environment"],
    )
    spec = yaml.safe_dump(
        {
            "proton": "ServiceSpec",
            "instances": [
                {"name": TF_INSTANCE, "environment": TF_ENVIRONMENT, "spec": {"port": 8080}}
            ],
        },
        sort_keys=False,
    )
    export.write(
        f"services/{TF_SERVICE}/instances/{TF_INSTANCE}.json",
        "GetServiceInstance",
        {
            "serviceInstance": {
                "arn": instance_arn,
                "name": TF_INSTANCE,
                "serviceName": TF_SERVICE,
                "environmentName": TF_ENVIRONMENT,
                "templateName": TF_SVC_TEMPLATE,
                "templateMajorVersion": "1",
                "templateMinorVersion": "0",
                "spec": spec,
                **_deployed(when, ids["instance"]),
            }
        },
    )
    export.outputs(
        f"services/{TF_SERVICE}/instances/{TF_INSTANCE}/outputs.json",
        "ListServiceInstanceOutputs",
        outputs["instance"],
    )
    export.write(
        f"services/{TF_SERVICE}.json",
        "GetService",
        {
            "service": {
                "arn": arn(f"service/{TF_SERVICE}"),
                "name": TF_SERVICE,
                "templateName": TF_SVC_TEMPLATE,
                "spec": spec,
                "status": "ACTIVE",
                "createdAt": when,
                "lastModifiedAt": when,
            }
        },
    )
    # What Proton's merged pull requests left in the repository (layout 2: <env>/...).
    metadata = {
        TF_ENVIRONMENT: {
            "deploymentId": ids["environment"],
            "isResourceDeleted": False,
            "resourceMetadata": {
                "arn": env_arn,
                "templateArn": arn(f"environment-template/{TF_ENV_TEMPLATE}"),
                "templateMajorVersion": "1",
                "templateMinorVersion": "0",
            },
        },
        f"{TF_ENVIRONMENT}/{TF_SERVICE}-{TF_INSTANCE}": {
            "deploymentId": ids["instance"],
            "isResourceDeleted": False,
            "resourceMetadata": {
                "arn": instance_arn,
                "templateArn": arn(f"service-template/{TF_SVC_TEMPLATE}"),
                "templateMajorVersion": "1",
                "templateMinorVersion": "0",
                "environmentArn": env_arn,
            },
        },
    }
    for folder, document in metadata.items():
        _write_files(
            repository / folder,
            {
                ".proton/deployment-metadata.json": json.dumps(document).encode(),
                "main.tf": (_TF_ENV if folder == TF_ENVIRONMENT else _TF_INSTANCE).encode(),
            },
        )
    git(repository, "add", "-A")
    git(
        repository,
        "commit",
        "-q",
        "-m",
        f"Update requested for Proton - environment/{TF_ENVIRONMENT}",
    )
    git(repository, "push", "-q", "origin", "main")
    commit = git(repository, "rev-parse", "HEAD").stdout.strip()
    return SelfManaged(commit, ids, outputs)


# --- CodeBuild provisioning: commands that built what Baryon cannot see ------------------------

CB_ENV_TEMPLATE = "cb-env"
CB_ENVIRONMENT = "cb-env-dev"
CB_ROLE = f"arn:aws:iam::{ACCOUNT}:role/proton-codebuild"
CB_OUTPUTS = {"BucketName": "cb-env-dev-artifacts", "QueueUrl": "https://sqs.example/cb"}
_CB_MANIFEST = """\
infrastructure:
  templates:
    - rendering_engine: codebuild
      settings:
        image: aws/codebuild/amazonlinux2-x86_64-standard:4.0
        provision:
          - echo provision
        deprovision:
          - echo deprovision
"""


def add_codebuild(export_dir: Path, *, outputs: bool = True) -> str:
    """Adds to the export a CodeBuild-provisioned environment (its template's bundle runs
    commands; Proton kept only the outputs they reported), with its outputs unless
    ``outputs`` is False. Returns its deployment id."""
    export = _Export(export_dir)
    when = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
    export.write(
        f"environment-templates/{CB_ENV_TEMPLATE}.json",
        "GetEnvironmentTemplate",
        {
            "environmentTemplate": {
                "arn": arn(f"environment-template/{CB_ENV_TEMPLATE}"),
                "name": CB_ENV_TEMPLATE,
                "createdAt": when,
                "lastModifiedAt": when,
            }
        },
    )
    export.write(
        f"environment-templates/{CB_ENV_TEMPLATE}/versions/1.0.json",
        "GetEnvironmentTemplateVersion",
        {
            "environmentTemplateVersion": {
                "arn": arn(f"environment-template/{CB_ENV_TEMPLATE}:1.0"),
                "templateName": CB_ENV_TEMPLATE,
                "majorVersion": "1",
                "minorVersion": "0",
                "status": "PUBLISHED",
                "schema": _TF_ENV_SCHEMA,
                "createdAt": when,
                "lastModifiedAt": when,
            }
        },
    )
    _write_files(
        export_dir / "bundles" / CB_ENV_TEMPLATE / "v1.0",
        {
            "schema/schema.yaml": _TF_ENV_SCHEMA.encode(),
            "infrastructure/manifest.yaml": _CB_MANIFEST.encode(),
        },
    )
    deployment = str(uuid.uuid4())
    export.write(
        f"environments/{CB_ENVIRONMENT}.json",
        "GetEnvironment",
        {
            "environment": {
                "arn": arn(f"environment/{CB_ENVIRONMENT}"),
                "name": CB_ENVIRONMENT,
                "templateName": CB_ENV_TEMPLATE,
                "templateMajorVersion": "1",
                "templateMinorVersion": "0",
                "codebuildRoleArn": CB_ROLE,
                "spec": "proton: EnvironmentSpec\nspec:\n  size: small\n",
                **_deployed(when, deployment),
            }
        },
    )
    if outputs:
        export.outputs(
            f"environments/{CB_ENVIRONMENT}/outputs.json", "ListEnvironmentOutputs", CB_OUTPUTS
        )
    return deployment


# --- a stack that names a role (RoleARN) only Proton may assume --------------------------------

ROLE_ENV_TEMPLATE = "role-env"
_ROLE_ENV_CFN = """\
Resources:
  Topic:
    Type: AWS::SNS::Topic
Outputs:
  TopicArn:
    Value: !Ref Topic
"""
_PROTON_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "proton.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def add_role_stack(cloudformation: Any, iam: Any, export_dir: Path) -> tuple[str, ProtonStack]:
    """Adds an environment whose Proton stack was created with a RoleARN that trusts only
    proton.amazonaws.com (the documented service role), and its export. Returns the
    environment's name (new each call) and its stack, which the caller deletes when done."""
    name = f"role-env-{_suffix().lower()[:8]}"
    role = iam.create_role(RoleName=f"proton-svc-{name}", AssumeRolePolicyDocument=_PROTON_TRUST)
    role_arn = role["Role"]["Arn"]
    env_arn = arn(f"environment/{name}")
    stack_id = cloudformation.create_stack(
        StackName=f"AWSProton-{name[:15]}-cloudformation--{_suffix()}",
        TemplateBody=_ROLE_ENV_CFN,
        RoleARN=role_arn,
        Tags=[{"Key": "proton:environment", "Value": env_arn}],
    )["StackId"]
    stack = _wait(cloudformation, stack_id)
    export = _Export(export_dir)
    when = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
    export.write(
        f"environment-templates/{ROLE_ENV_TEMPLATE}.json",
        "GetEnvironmentTemplate",
        {
            "environmentTemplate": {
                "arn": arn(f"environment-template/{ROLE_ENV_TEMPLATE}"),
                "name": ROLE_ENV_TEMPLATE,
                "createdAt": when,
                "lastModifiedAt": when,
            }
        },
    )
    export.write(
        f"environment-templates/{ROLE_ENV_TEMPLATE}/versions/1.0.json",
        "GetEnvironmentTemplateVersion",
        {
            "environmentTemplateVersion": {
                "arn": arn(f"environment-template/{ROLE_ENV_TEMPLATE}:1.0"),
                "templateName": ROLE_ENV_TEMPLATE,
                "majorVersion": "1",
                "minorVersion": "0",
                "status": "PUBLISHED",
                "schema": _TF_ENV_SCHEMA,
                "createdAt": when,
                "lastModifiedAt": when,
            }
        },
    )
    _write_files(
        export_dir / "bundles" / ROLE_ENV_TEMPLATE / "v1.0",
        {
            "schema/schema.yaml": _TF_ENV_SCHEMA.encode(),
            "infrastructure/manifest.yaml": (
                b'infrastructure:\n  templates:\n    - file: "cloudformation.yaml"\n'
                b"      rendering_engine: jinja\n      template_language: cloudformation\n"
            ),
            "infrastructure/cloudformation.yaml": _ROLE_ENV_CFN.encode(),
        },
    )
    export.write(
        f"environments/{name}.json",
        "GetEnvironment",
        {
            "environment": {
                "arn": env_arn,
                "name": name,
                "templateName": ROLE_ENV_TEMPLATE,
                "templateMajorVersion": "1",
                "templateMinorVersion": "0",
                "protonServiceRoleArn": role_arn,
                **_deployed(when, str(uuid.uuid4())),
            }
        },
    )
    return name, ProtonStack(stack["StackName"], stack_id, {}, [])
