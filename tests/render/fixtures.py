"""Small resources and IaC sections of the tests' own, for the non-Jinja engines."""

from __future__ import annotations

from baryon.bundles import IacSection, parse_manifest
from baryon.render import ComponentRef, EnvironmentRef, InstanceRef, ServiceRef

ACCOUNT = "111122223333"
PROTON = f"arn:aws:proton:us-east-1:{ACCOUNT}"
ENV_ARN = f"{PROTON}:environment/dev"
INSTANCE_ARN = f"{PROTON}:service/web/service-instance/prod"
PIPELINE_ARN = f"{PROTON}:service/web/pipeline"
COMPONENT_ARN = f"{PROTON}:component/bucket"

ENVIRONMENT = EnvironmentRef(
    name="dev",
    account_id=ACCOUNT,
    inputs={"vpc_cidr": "10.0.0.0/16", "size": 3, "public": True, "zones": ["a", "b"]},
    outputs={"VpcId": "vpc-1", "ClusterName": "c1"},
)
SERVICE = ServiceRef(
    "web",
    branch_name="main",
    repository_connection_arn=f"arn:aws:codestar-connections:us-east-1:{ACCOUNT}:connection/x",
    repository_id="org/app",
)
COMPONENT = ComponentRef("bucket", {"BucketArn": "arn:aws:s3:::b"})
INSTANCE = InstanceRef(
    "prod", {"port": 80, "task_size": "x-small"}, {"Url": "https://x"}, ENVIRONMENT
)
INSTANCE_WITH_COMPONENT = InstanceRef(
    INSTANCE.name, INSTANCE.inputs, INSTANCE.outputs, ENVIRONMENT, {"default": COMPONENT}
)

TF_MANIFEST = """\
infrastructure:
  templates:
    - file: "*"
      rendering_engine: hcl
      template_language: terraform
"""
TF_MAIN = 'resource "aws_ssm_parameter" "p" {\n  name  = var.service_instance.name\n}\n'
TF_OUTPUTS = 'output "name" {\n  value = aws_ssm_parameter.p.name\n}\n'

CODEBUILD_MANIFEST = """\
infrastructure:
  templates:
    - rendering_engine: codebuild
      {input_type}
      settings:
        image: aws/codebuild/amazonlinux2-x86_64-standard:4.0
        runtimes:
          nodejs: 16
        env:
          variables:
            TF_VERSION: 1.4.2
          secrets_manager:
            TOKEN: "team/token:Secret"
        provision:
          - npm ci
          - docker inspect --format '{{{{.Id}}}}' app
        deprovision:
          - ./destroy.sh
        project_properties:
          VpcConfig:
            VpcId: "{{{{ environment.inputs.vpc_id }}}}"
            Subnets: "{{{{ environment.inputs.subnets }}}}"
            SecurityGroupIds: ["{{{{ environment.inputs.security_group }}}}"]
          Description: "Built for {{{{ environment.name }}}} ({{{{ environment.inputs.vpc_id }}}})"
          TimeoutInMinutes: 30
"""


def terraform_section(folder: str, files: dict[str, str]) -> IacSection:
    manifest = parse_manifest(TF_MANIFEST, f"{folder}/manifest.yaml")
    return IacSection(folder, manifest, files)


def codebuild_section(folder: str, input_type: str | None = None) -> IacSection:
    line = f"input_type: {input_type}" if input_type else ""
    text = CODEBUILD_MANIFEST.format(input_type=line)
    return IacSection(folder, parse_manifest(text, f"{folder}/manifest.yaml"), {})
