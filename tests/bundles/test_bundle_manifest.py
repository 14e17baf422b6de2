"""manifest.yaml parsing, including the stricter rules for directly-defined components."""

from __future__ import annotations

import pytest

from baryon.bundles import BundleError, parse_manifest
from baryon.bundles.yaml_source import load_yaml
from tests.bundles.bundle_builders import CFN_MANIFEST, CODEBUILD_MANIFEST, TF_MANIFEST

FILE = "instance_infrastructure/manifest.yaml"


def manifest_error(text: str, *, component: bool = False) -> str:
    with pytest.raises(BundleError) as caught:
        parse_manifest(text, FILE, component=component)
    return str(caught.value).removeprefix(FILE + " ")


def test_terraform_single_file_for_a_component() -> None:
    manifest = parse_manifest(TF_MANIFEST.replace('"*"', "component.tf"), FILE, component=True)
    template = manifest.templates[0]
    assert (template.rendering_engine, template.template_language, template.file) == (
        "hcl",
        "terraform",
        "component.tf",
    )


def test_codebuild_input_type_inside_settings() -> None:
    text = CODEBUILD_MANIFEST.replace(
        "        provision:", "        input_type: hcl\n        provision:"
    )
    assert parse_manifest(text, FILE).templates[0].input_type == "HCL"


@pytest.mark.parametrize(
    ("text", "component", "expected"),
    [
        (
            TF_MANIFEST,
            True,
            "line 3 (infrastructure.templates[0].file): components take a single IaC file, not '*'",
        ),
        (
            CODEBUILD_MANIFEST,
            True,
            "line 3 (infrastructure.templates[0].rendering_engine): unknown rendering_engine "
            "'codebuild' for a component (expected jinja or hcl)",
        ),
        (
            CFN_MANIFEST.replace("cloudformation\n", "terraform\n"),
            False,
            "line 5 (infrastructure.templates[0].template_language): rendering_engine 'jinja' "
            "needs template_language 'cloudformation', got 'terraform'",
        ),
        (
            CFN_MANIFEST + CFN_MANIFEST.split("templates:\n")[1],
            False,
            "line 6 (infrastructure.templates[1]): exactly one template is supported, found 2",
        ),
        (
            CFN_MANIFEST.replace(
                "      template_language", "      settings: {}\n      template_language"
            ),
            False,
            "line 5 (infrastructure.templates[0].settings): 'settings' is only allowed with "
            "rendering_engine codebuild",
        ),
        (
            CODEBUILD_MANIFEST.replace(
                "    - rendering_engine", "    - file: x\n      rendering_engine"
            ),
            False,
            "line 3 (infrastructure.templates[0].file): 'file' is not used with "
            "rendering_engine codebuild",
        ),
        (
            CODEBUILD_MANIFEST.replace(
                "          variables:", "          parameter_store: {}\n          variables:"
            ),
            False,
            "line 9 (infrastructure.templates[0].settings.env.parameter_store): unknown env "
            "key 'parameter_store'; expected one of ['secrets_manager', 'variables']",
        ),
        (
            CODEBUILD_MANIFEST.replace("          - npm ci", "          - [npm, ci]"),
            False,
            "line 14 (infrastructure.templates[0].settings.provision[0]): must be a string, "
            "got array ['npm', 'ci']",
        ),
        (
            CODEBUILD_MANIFEST.replace(
                "        provision:", "        input_type: XML\n        provision:"
            ),
            False,
            "line 13 (infrastructure.templates[0].settings.input_type): input_type must be "
            "JSON or HCL, got 'XML'",
        ),
        (
            "infrastructure:\n  templates: []\n",
            False,
            "line 2 (infrastructure.templates): must be a list with one template",
        ),
    ],
)
def test_manifest_errors(text: str, component: bool, expected: str) -> None:
    assert manifest_error(text, component=component) == expected


def test_yaml_lines_are_recorded_for_keys_and_items() -> None:
    doc = load_yaml("a:\n  b:\n    - x\n    - y: 1\nc: 2024-01-01\n", "f.yaml", max_bytes=1000)
    assert doc.data == {"a": {"b": ["x", {"y": 1}]}, "c": "2024-01-01"}  # dates stay text
    assert doc.line(("a", "b", 1, "y")) == 4
    assert doc.line(("c",)) == 5
    assert doc.line(("a", "b", 7, "zzz")) == 2  # falls back to the nearest known ancestor
