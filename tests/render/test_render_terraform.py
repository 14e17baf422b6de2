"""Terraform: proton.auto.tfvars.json and proton.<kind>.variables.tf in Proton's shapes
(reference 4.3), and the files of a rendered Terraform section."""

from __future__ import annotations

import json

import pytest

from baryon.render import (
    EnvironmentRef,
    RenderError,
    component_namespace,
    environment_namespace,
    instance_namespace,
    pipeline_namespace,
    render_section,
    render_terraform_section,
    tfvars_json,
    variables_tf,
)
from tests.render.fixtures import (
    ACCOUNT,
    COMPONENT_ARN,
    ENV_ARN,
    ENVIRONMENT,
    INSTANCE,
    INSTANCE_ARN,
    INSTANCE_WITH_COMPONENT,
    PIPELINE_ARN,
    PROTON,
    SERVICE,
    TF_MAIN,
    TF_OUTPUTS,
    terraform_section,
)

ENV_TAGS = {
    "proton:account": ACCOUNT,
    "proton:template": f"{PROTON}:environment-template/vpc-env",
    "proton:environment": ENV_ARN,
}

ENVIRONMENT_TFVARS = f"""\
{{
  "environment" : {{
    "name" : "dev",
    "inputs" : {{
      "vpc_cidr" : "10.0.0.0/16",
      "size" : 3,
      "public" : true,
      "zones" : [ "a", "b" ]
    }}
  }},
  "proton_tags" : {{
    "proton:account" : "{ACCOUNT}",
    "proton:template" : "{PROTON}:environment-template/vpc-env",
    "proton:environment" : "{ENV_ARN}"
  }},
  "//" : "{ENV_ARN}"
}}"""

ENVIRONMENT_OUTPUTS = """\
    "account_id" : "111122223333",
    "name" : "dev",
    "outputs" : {
      "ClusterName" : "c1",
      "VpcId" : "vpc-1"
    }"""

SERVICE_BLOCK = f"""\
  "service" : {{
    "name" : "web",
    "repository_connection_arn" : "arn:aws:codestar-connections:us-east-1:{ACCOUNT}:connection/x",
    "repository_id" : "org/app",
    "branch_name" : "main"
  }}"""

INSTANCE_TFVARS = f"""\
{{
  "environment" : {{
{ENVIRONMENT_OUTPUTS}
  }},
{SERVICE_BLOCK},
  "service_instance" : {{
    "name" : "prod",
    "inputs" : {{
      "port" : 80,
      "task_size" : "x-small"
    }},
    "components" : {{
      "default" : {{
        "name" : "bucket",
        "outputs" : {{
          "BucketArn" : "arn:aws:s3:::b"
        }}
      }}
    }}
  }},
  "//" : "{INSTANCE_ARN}"
}}"""

PIPELINE_TFVARS = f"""\
{{
  "pipeline" : {{
    "inputs" : {{
      "dockerfile" : "Dockerfile"
    }}
  }},
{SERVICE_BLOCK},
  "service_instances" : [ {{
    "name" : "prod",
    "inputs" : {{
      "port" : 80,
      "task_size" : "x-small"
    }},
    "outputs" : {{
      "Url" : "https://x"
    }},
    "environment" : {{
  {ENVIRONMENT_OUTPUTS.replace(chr(10), chr(10) + "  ")}
    }}
  }}, {{
    "name" : "empty",
    "inputs" : {{ }},
    "outputs" : {{ }},
    "environment" : {{
      "account_id" : "444455556666",
      "name" : "other",
      "outputs" : {{ }}
    }}
  }} ],
  "proton_tags" : {{
    "proton:service" : "{PROTON}:service/web"
  }},
  "//" : "{PIPELINE_ARN}"
}}"""

COMPONENT_TFVARS = f"""\
{{
  "component" : {{
    "name" : "bucket"
  }},
  "environment" : {{
{ENVIRONMENT_OUTPUTS}
  }},
  "service" : {{
    "name" : "web"
  }},
  "service_instance" : {{
    "name" : "prod",
    "inputs" : {{
      "port" : 80,
      "task_size" : "x-small"
    }}
  }},
  "//" : "{COMPONENT_ARN}"
}}"""


def test_environment_tfvars() -> None:
    text = tfvars_json(
        "environment",
        environment_namespace(ENVIRONMENT),
        resource_arn=ENV_ARN,
        proton_tags=ENV_TAGS,
    )
    assert text == ENVIRONMENT_TFVARS
    assert list(json.loads(text)) == ["environment", "proton_tags", "//"]


def test_service_instance_tfvars() -> None:
    namespace = instance_namespace(SERVICE, INSTANCE_WITH_COMPONENT)
    text = tfvars_json("service_instance", namespace, resource_arn=INSTANCE_ARN, proton_tags={})
    assert text == INSTANCE_TFVARS
    # Jinja-only entries (service_instance.environment) stay out of the file.
    assert "environment" not in json.loads(text)["service_instance"]


def test_service_instance_without_component_and_repository() -> None:
    namespace = instance_namespace(type(SERVICE)("web"), INSTANCE)
    document = json.loads(
        tfvars_json("service_instance", namespace, resource_arn=INSTANCE_ARN, proton_tags={})
    )
    assert document["service_instance"]["components"] == {}
    assert document["service"] == {
        "name": "web",
        "repository_connection_arn": "",
        "repository_id": "",
        "branch_name": "",
    }
    assert '"components" : { }' in tfvars_json(
        "service_instance", namespace, resource_arn=INSTANCE_ARN, proton_tags={}
    )


def test_pipeline_tfvars() -> None:
    other = EnvironmentRef("other", "444455556666")
    empty = type(INSTANCE)("empty", {}, {}, other)
    namespace = pipeline_namespace(SERVICE, {"dockerfile": "Dockerfile"}, [INSTANCE, empty])
    text = tfvars_json(
        "pipeline",
        namespace,
        resource_arn=PIPELINE_ARN,
        proton_tags={"proton:service": f"{PROTON}:service/web"},
    )
    assert text == PIPELINE_TFVARS


def test_component_tfvars_attached_and_detached() -> None:
    attached = component_namespace("bucket", ENVIRONMENT, SERVICE, INSTANCE)
    assert (
        tfvars_json("component", attached, resource_arn=COMPONENT_ARN, proton_tags={})
        == COMPONENT_TFVARS
    )
    detached = json.loads(
        tfvars_json(
            "component",
            component_namespace("bucket", ENVIRONMENT),
            resource_arn=COMPONENT_ARN,
            proton_tags={},
        )
    )
    assert list(detached) == ["component", "environment", "//"]


def test_tfvars_are_deterministic_and_do_not_alias_the_namespace() -> None:
    namespace = instance_namespace(SERVICE, INSTANCE_WITH_COMPONENT)
    first = tfvars_json("service_instance", namespace, resource_arn=INSTANCE_ARN, proton_tags={})
    namespace["service_instance"]["inputs"]["port"] = 81  # a later change must not leak back
    again = instance_namespace(SERVICE, INSTANCE_WITH_COMPONENT)
    assert tfvars_json("service_instance", again, resource_arn=INSTANCE_ARN, proton_tags={}) == (
        first
    )


def test_text_escapes_like_jackson() -> None:
    environment = EnvironmentRef("dev", ACCOUNT, {"note": 'say "hi"\n\ttab\\ é /'})
    text = tfvars_json(
        "environment", environment_namespace(environment), resource_arn=ENV_ARN, proton_tags={}
    )
    assert '"note" : "say \\"hi\\"\\n\\ttab\\\\ é /"' in text


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown resource kind 'service'"):
        variables_tf("service")


SERVICE_INSTANCE_VARIABLES = """\
variable "environment" {
  type = object({
    account_id = string
    name       = string
    outputs    = map(string)
  })
  default = null
}

variable "service" {
  type = object({
    name                      = string
    branch_name               = string
    repository_connection_arn = string
    repository_id             = string
  })
}

variable "service_instance" {
  type = object({
    name       = string
    inputs     = any
    components = map(any)
  })
  default = null
}

variable "proton_tags" {
  type    = map(string)
  default = null
}
"""


def test_variables_match_proton_2023_declarations() -> None:
    assert variables_tf("service_instance") == SERVICE_INSTANCE_VARIABLES
    assert variables_tf("environment").startswith(
        'variable "environment" {\n  type = object({\n    inputs = any\n    name   = string\n'
    )
    assert 'variable "service_instances" {\n  type = list(\n' in variables_tf("pipeline")
    assert 'variable "component" {\n  type = object({\n    name = string\n  })\n}' in (
        variables_tf("component")
    )


def _render(files: dict[str, str]) -> dict[str, str]:
    return render_terraform_section(
        terraform_section("instance_infrastructure", files),
        instance_namespace(SERVICE, INSTANCE),
        kind="service_instance",
        resource_arn=INSTANCE_ARN,
        proton_tags={},
    )


def test_section_files() -> None:
    files = _render({"main.tf": TF_MAIN, "outputs.tf": TF_OUTPUTS})
    assert list(files) == [
        "main.tf",
        "outputs.tf",
        "proton.service_instance.variables.tf",
        "proton.auto.tfvars.json",
    ]
    header = files["main.tf"][: -len(TF_MAIN)]
    assert files["main.tf"] == header + TF_MAIN  # the bundle's text is untouched
    assert header.startswith("/*\nThis file is managed by Baryon")
    assert f"Resource: {INSTANCE_ARN}\n" in header
    assert header.endswith("*/\n\n")
    assert files["outputs.tf"] == header + TF_OUTPUTS
    assert files["proton.service_instance.variables.tf"] == header + SERVICE_INSTANCE_VARIABLES
    assert json.loads(files["proton.auto.tfvars.json"])["//"] == INSTANCE_ARN
    assert _render({"main.tf": TF_MAIN, "outputs.tf": TF_OUTPUTS}) == files


def test_section_through_the_entry_point() -> None:
    rendered = render_section(
        terraform_section("infrastructure", {"main.tf": TF_MAIN}),
        environment_namespace(ENVIRONMENT),
        kind="environment",
        resource_arn=ENV_ARN,
        proton_tags=ENV_TAGS,
    )
    assert rendered.engine == "terraform"
    assert rendered.codebuild is None
    assert rendered.files["proton.auto.tfvars.json"] == ENVIRONMENT_TFVARS
    assert list(rendered.files) == [
        "main.tf",
        "proton.environment.variables.tf",
        "proton.auto.tfvars.json",
    ]


def test_bundle_must_not_declare_generated_variables() -> None:
    with pytest.raises(RenderError) as caught:
        _render(
            {"main.tf": TF_MAIN, "vars.tf": 'variable "aws_region" {}\n\nvariable "service" {}\n'}
        )
    assert str(caught.value) == (
        'instance_infrastructure/vars.tf line 3: declares variable "service", which Baryon '
        "generates in proton.service_instance.variables.tf; remove the declaration"
    )


def test_bundle_must_not_ship_a_generated_file() -> None:
    with pytest.raises(RenderError) as caught:
        _render({"proton.service_instance.variables.tf": "# mine\n"})
    assert caught.value.reason == (
        "proton.service_instance.variables.tf is generated by Baryon; remove it from the bundle"
    )
