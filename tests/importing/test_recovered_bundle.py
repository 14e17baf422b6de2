"""A bundle recovered from deployed stacks renders each resource's stack template back,
byte for byte, whatever Jinja-looking text the template holds; and it registers."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
import yaml

from baryon.bundles.limits import BundleLimits
from baryon.bundles.loader import load_bundle_bytes
from baryon.importing.recovered_bundle import (
    DeployedTemplate,
    escape_jinja,
    inferred_schema,
    recovered_bundle_files,
    section_template,
)
from baryon.render.context import (
    EnvironmentRef,
    InstanceRef,
    ServiceRef,
    environment_namespace,
    instance_namespace,
)
from baryon.render.iac import check_section, render_section
from baryon.render.jinja import render_text
from baryon.service_models.proton import TemplateType

HOSTILE = [
    "Resources: {}\n",
    "Value: '{{ environment.name }}'\n{% for x in y %}{% endfor %}\n",
    "{% raw %}x{% endraw %}\n{%endraw%}{%- endraw -%}{%+ endraw %}\n",
    "{# not a comment #} {{ '{%' }} {%% %%} }} {{\n",
    "trailing spaces   \n\n\nno newline at the end",
    "",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_text_renders_to_itself(text: str) -> None:
    assert render_text(escape_jinja(text), {}, file="t.yaml") == text


def _env(name: str) -> dict[str, object]:
    return environment_namespace(EnvironmentRef(name, "123456789012", {}))


def test_each_resource_renders_its_own_stacks_template_and_no_other() -> None:
    deployed = [
        DeployedTemplate(("prod",), "AWSProton-prod-cloudformation--A", "Resources: {A: 1}\n"),
        DeployedTemplate(("dev",), "AWSProton-dev-cloudformation--B", "{% raw %}B\n"),
    ]
    template = section_template("infrastructure", deployed, "Recovered from 2 stacks")

    assert render_text(template, _env("prod"), file="f") == "Resources: {A: 1}\n"
    assert render_text(template, _env("dev"), file="f") == "{% raw %}B\n"
    fallback = render_text(template, _env("new"), file="f")
    assert yaml.safe_load(fallback) == {"Description": "Recovered from 2 stacks"}


def test_an_instance_is_told_apart_by_its_service_and_its_own_name() -> None:
    deployed = [
        DeployedTemplate(("front", "one"), "s1", "one\n"),
        DeployedTemplate(("back", "one"), "s2", "two\n"),
    ]
    template = section_template("instance_infrastructure", deployed, "note")
    environment = EnvironmentRef("prod", "123456789012", {})

    def render(service: str, instance: str) -> str:
        namespace = instance_namespace(
            ServiceRef(service), InstanceRef(instance, {}, {}, environment)
        )
        return render_text(template, namespace, file="f")

    assert (render("front", "one"), render("back", "one")) == ("one\n", "two\n")


def _archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_a_recovered_service_bundle_registers_and_renders_the_deployed_text(tmp_path: Path) -> None:
    instance_text = "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n# {{ not jinja }}\n"
    schema = inferred_schema(
        {
            "instance_infrastructure": [{"port": 80, "name": "x"}, {"port": 8080}],
            "pipeline_infrastructure": [{"dir": "src"}],
        }
    )
    files = recovered_bundle_files(
        TemplateType.SERVICE,
        schema,
        {
            "instance_infrastructure": [DeployedTemplate(("svc", "one"), "stack-1", instance_text)],
            "pipeline_infrastructure": [],
        },
        "recovered",
    )

    bundle = load_bundle_bytes(_archive(files), "service", limits=BundleLimits(), workdir=tmp_path)

    assert bundle.instance is not None and bundle.pipeline is not None
    check_section(bundle.instance)
    assert bundle.schema.service_input_type and bundle.schema.pipeline_input_type
    inputs = bundle.schema.resolve_inputs(
        bundle.schema.service_input_type, {"port": 8080, "name": "x"}, where="spec"
    ).values
    namespace = instance_namespace(
        ServiceRef("svc"),
        InstanceRef("one", dict(inputs), {}, EnvironmentRef("e", "123456789012", {})),
    )
    rendered = render_section(
        bundle.instance, namespace, kind="service_instance", resource_arn="arn", proton_tags={}
    )
    assert rendered.files["cloudformation.yaml"] == instance_text


def test_inputs_whose_values_disagree_in_type_stay_untyped() -> None:
    schema = yaml.safe_load(inferred_schema({"infrastructure": [{"a": 1}, {"a": "one"}]}))
    (input_type,) = schema["schema"]["types"].values()
    assert input_type["properties"] == {"a": {}}


def test_a_folder_without_deployed_resources_renders_a_template_without_resources() -> None:
    template = section_template("pipeline_infrastructure", [], "no pipeline ran this version")

    rendered = yaml.safe_load(render_text(template, {}, file="f"))

    # CloudFormation refuses a template without Resources: no stack is made from it.
    assert rendered == {"Description": "no pipeline ran this version"}
