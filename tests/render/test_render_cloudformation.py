"""Rendered CloudFormation is parsed before anyone deploys it; errors carry the line."""

from __future__ import annotations

import pytest

from baryon.bundles import IacSection, parse_manifest
from baryon.render import RenderError, environment_namespace, parse_cloudformation, render_section
from tests.render.fixtures import ENV_ARN, ENVIRONMENT

CFN_MANIFEST = """\
infrastructure:
  templates:
    - file: "cloudformation.yaml"
      rendering_engine: jinja
      template_language: cloudformation
"""


def section(text: str) -> IacSection:
    manifest = parse_manifest(CFN_MANIFEST, "infrastructure/manifest.yaml")
    return IacSection("infrastructure", manifest, {"cloudformation.yaml": text})


def render(text: str) -> dict[str, str]:
    rendered = render_section(
        section(text),
        environment_namespace(ENVIRONMENT),
        kind="environment",
        resource_arn=ENV_ARN,
        proton_tags={},
    )
    assert rendered.engine == "cloudformation"
    assert rendered.codebuild is None
    return rendered.files


def test_short_tags_become_long_forms() -> None:
    template = parse_cloudformation(
        "Resources:\n"
        "  A:\n"
        "    Type: AWS::S3::Bucket\n"
        "    Properties:\n"
        "      BucketName: !Sub '${AWS::StackName}-x'\n"
        "      Tags:\n"
        "        - Key: a\n"
        "          Value: !GetAtt B.Arn\n"
        "        - Key: b\n"
        "          Value: !Join ['', [!Ref C, !Select [0, !GetAZs '']]]\n"
        "      Version: 2012-10-17\n",
        "t",
    )
    properties = template["Resources"]["A"]["Properties"]
    assert properties["BucketName"] == {"Fn::Sub": "${AWS::StackName}-x"}
    assert properties["Tags"][0]["Value"] == {"Fn::GetAtt": ["B", "Arn"]}
    assert properties["Tags"][1]["Value"] == {
        "Fn::Join": ["", [{"Ref": "C"}, {"Fn::Select": [0, {"Fn::GetAZs": ""}]}]]
    }
    assert properties["Version"] == "2012-10-17"  # a string, as CloudFormation reads it


def test_json_templates_are_accepted() -> None:
    assert parse_cloudformation('{"Resources": {"A": {"Type": "X"}}}', "t") == {
        "Resources": {"A": {"Type": "X"}}
    }


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("a: 1\nb:\n  - x\n c: y\n", 4, "the rendered template is not valid YAML: "),
        ("Resources:\n  A: 1\n  A: 2\n", 3, "duplicate key 'A' (first at line 2)"),
        ("Resources:\n  A: !Bogus x\n", 2, "unknown CloudFormation tag !Bogus"),
        ('{"a": 1,\n "b": }', 2, "the rendered template is not valid JSON: Expecting value"),
        ("- a\n- b\n", None, "is not a mapping of sections"),
    ],
)
def test_invalid_templates_name_the_line(text: str, line: int | None, reason: str) -> None:
    with pytest.raises(RenderError) as caught:
        parse_cloudformation(text, "infrastructure/cloudformation.yaml")
    assert caught.value.file == "infrastructure/cloudformation.yaml"
    assert caught.value.line == line
    assert reason in caught.value.reason


def test_section_renders_the_manifest_file() -> None:
    files = render(
        "Resources:\n  P:\n    Type: AWS::SSM::Parameter\n"
        "    Properties:\n      Value: '{{ environment.name }}'\n"
    )
    assert files == {
        "cloudformation.yaml": (
            "Resources:\n  P:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Value: 'dev'\n"
        )
    }


def test_section_refuses_output_that_is_not_yaml() -> None:
    # "V: ['a', 'b']: x" is not YAML; the error points at the rendered line.
    with pytest.raises(RenderError) as caught:
        render(
            "Resources:\n  P:\n    Type: X\n    Properties:\n"
            "      V: {{ environment.inputs.zones }}: x\n"
        )
    assert caught.value.file == "infrastructure/cloudformation.yaml"
    assert caught.value.line == 5


def test_section_kind_is_checked() -> None:
    with pytest.raises(ValueError, match="unknown resource kind 'service'"):
        render_section(
            section("Resources: {}\n"),
            environment_namespace(ENVIRONMENT),
            kind="service",
            resource_arn=ENV_ARN,
            proton_tags={},
        )
