"""CodeBuild: the inputs file (JSON or HCL .tfvars) and the plan with rendered
project_properties (reference 2.3, 4.5)."""

from __future__ import annotations

import json

import pytest

from baryon.render import (
    EnvironmentRef,
    RenderError,
    environment_namespace,
    instance_namespace,
    pipeline_namespace,
    proton_inputs_json,
    proton_inputs_tfvars,
    render_section,
)
from tests.render.fixtures import (
    ACCOUNT,
    ENV_ARN,
    ENVIRONMENT,
    INSTANCE,
    INSTANCE_ARN,
    SERVICE,
    codebuild_section,
)

CODEBUILD_ENVIRONMENT = EnvironmentRef(
    "dev",
    ACCOUNT,
    {"vpc_id": "vpc-1", "subnets": ["subnet-a", "subnet-b"], "security_group": "sg-1"},
)

ENVIRONMENT_INPUTS_JSON = """\
{
  "environment" : {
    "name" : "dev",
    "inputs" : {
      "vpc_cidr" : "10.0.0.0/16",
      "size" : 3,
      "public" : true,
      "zones" : [ "a", "b" ]
    }
  }
}"""

INSTANCE_INPUTS_JSON = f"""\
{{
  "environment" : {{
    "account_id" : "{ACCOUNT}",
    "name" : "dev",
    "outputs" : {{
      "ClusterName" : "c1",
      "VpcId" : "vpc-1"
    }}
  }},
  "service" : {{
    "name" : "web",
    "repository_connection_arn" : "arn:aws:codestar-connections:us-east-1:{ACCOUNT}:connection/x",
    "repository_id" : "org/app",
    "branch_name" : "main"
  }},
  "service_instance" : {{
    "name" : "prod",
    "inputs" : {{
      "port" : 80,
      "task_size" : "x-small"
    }},
    "components" : {{ }}
  }}
}}"""

ENVIRONMENT_INPUTS_HCL = """\
environment = {
  name = "dev"
  inputs = {
    vpc_cidr = "10.0.0.0/16"
    size     = 3
    public   = true
    zones    = ["a", "b"]
  }
}
"""

PIPELINE_INPUTS_HCL = f"""\
pipeline = {{
  inputs = {{
    dockerfile = "Dockerfile"
    command    = "echo $${{HOME}} %%{{ if }} \\"quoted\\""
  }}
}}
service = {{
  name                      = "web"
  repository_connection_arn = "arn:aws:codestar-connections:us-east-1:{ACCOUNT}:connection/x"
  repository_id             = "org/app"
  branch_name               = "main"
}}
service_instances = [
  {{
    name = "prod"
    inputs = {{
      port      = 80
      task_size = "x-small"
    }}
    outputs = {{
      Url = "https://x"
    }}
    environment = {{
      account_id = "{ACCOUNT}"
      name       = "dev"
      outputs = {{
        ClusterName = "c1"
        VpcId       = "vpc-1"
      }}
    }}
  }},
]
"""


def test_environment_inputs_json() -> None:
    assert proton_inputs_json(environment_namespace(ENVIRONMENT)) == ENVIRONMENT_INPUTS_JSON


def test_instance_inputs_json() -> None:
    text = proton_inputs_json(instance_namespace(SERVICE, INSTANCE))
    assert text == INSTANCE_INPUTS_JSON
    assert "//" not in json.loads(text)


def test_pipeline_inputs_json_shape() -> None:
    namespace = pipeline_namespace(SERVICE, {"dockerfile": "Dockerfile"}, [INSTANCE])
    document = json.loads(proton_inputs_json(namespace))
    assert list(document) == ["pipeline", "service", "service_instances"]
    assert list(document["service_instances"][0]) == ["name", "inputs", "outputs", "environment"]


def test_environment_inputs_hcl() -> None:
    assert proton_inputs_tfvars(environment_namespace(ENVIRONMENT)) == ENVIRONMENT_INPUTS_HCL


def test_pipeline_inputs_hcl_disarms_template_sequences() -> None:
    inputs = {"dockerfile": "Dockerfile", "command": 'echo ${HOME} %{ if } "quoted"'}
    namespace = pipeline_namespace(SERVICE, inputs, [INSTANCE])
    assert proton_inputs_tfvars(namespace) == PIPELINE_INPUTS_HCL


def test_hcl_quotes_keys_that_are_not_identifiers() -> None:
    environment = EnvironmentRef("dev", ACCOUNT, {"proton:tag": "x", "9lives": None, "ok-key": 1.5})
    assert proton_inputs_tfvars(environment_namespace(environment)) == (
        "environment = {\n"
        '  name = "dev"\n'
        "  inputs = {\n"
        '    "proton:tag" = "x"\n'
        '    "9lives"     = null\n'
        "    ok-key       = 1.5\n"
        "  }\n"
        "}\n"
    )


def _render(input_type: str | None = None) -> object:
    return render_section(
        codebuild_section("infrastructure", input_type),
        environment_namespace(CODEBUILD_ENVIRONMENT),
        kind="environment",
        resource_arn=ENV_ARN,
        proton_tags={"proton:environment": ENV_ARN},
    )


def test_codebuild_section_renders_inputs_and_plan() -> None:
    rendered = _render()
    assert rendered.engine == "codebuild"  # type: ignore[attr-defined]
    files = rendered.files  # type: ignore[attr-defined]
    assert list(files) == ["proton-inputs.json"]
    assert json.loads(files["proton-inputs.json"]) == {
        "environment": {"name": "dev", "inputs": CODEBUILD_ENVIRONMENT.inputs}
    }
    plan = rendered.codebuild  # type: ignore[attr-defined]
    assert plan.inputs_file == "proton-inputs.json"
    assert plan.image == "aws/codebuild/amazonlinux2-x86_64-standard:4.0"
    assert plan.runtimes == {"nodejs": 16}
    assert plan.env_variables == {"TF_VERSION": "1.4.2"}
    assert plan.env_secrets_manager == {"TOKEN": "team/token:Secret"}
    # Commands are shell, not templates: "{{.Id}}" reaches docker unchanged.
    assert plan.provision == ["npm ci", "docker inspect --format '{{.Id}}' app"]
    assert plan.deprovision == ["./destroy.sh"]
    assert plan.project_properties == {
        "VpcConfig": {
            "VpcId": "vpc-1",
            # A value that is one expression keeps its type: Subnets must be a list.
            "Subnets": ["subnet-a", "subnet-b"],
            "SecurityGroupIds": ["sg-1"],
        },
        "Description": "Built for dev (vpc-1)",
        "TimeoutInMinutes": 30,
    }
    assert _render() == rendered


def test_codebuild_section_with_hcl_inputs() -> None:
    rendered = _render("HCL")
    assert list(rendered.files) == ["proton-inputs.tfvars"]  # type: ignore[attr-defined]
    assert rendered.codebuild.inputs_file == "proton-inputs.tfvars"  # type: ignore[attr-defined]
    assert rendered.files["proton-inputs.tfvars"].startswith(  # type: ignore[attr-defined]
        'environment = {\n  name = "dev"\n'
    )


def test_project_properties_errors_name_the_field() -> None:
    with pytest.raises(RenderError) as caught:
        render_section(
            codebuild_section("instance_infrastructure"),
            instance_namespace(SERVICE, INSTANCE),
            kind="service_instance",
            resource_arn=INSTANCE_ARN,
            proton_tags={},
        )
    assert str(caught.value) == (
        "instance_infrastructure/manifest.yaml: project_properties.VpcConfig.VpcId: "
        "'dict object' has no attribute 'inputs' (environment.inputs)"
    )
