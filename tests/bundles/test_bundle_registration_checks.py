"""What registration checks beyond the bundle's shape, and how specs meet Proton's rules.

Every Jinja template of a bundle is compiled at registration by the renderer's own sandboxed
compiler (render.check_section), so a syntax error fails the version with its file and line
instead of failing every deployment. Defaults that break their own property register with a
warning and are passed through as written, spec keys the schema does not declare are ignored
and reported, and NaN or Infinity never get in.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from baryon.bundles import Bundle, BundleError, BundleLimits, SpecError, load_bundle
from baryon.bundles.schema import parse_schema
from baryon.render import RenderError, check_section, render_section
from tests.bundles.bundle_builders import (
    CODEBUILD_MANIFEST,
    env_bundle,
    service_bundle,
    write_tree,
)
from tests.support.samples import SAMPLES

LIMITS = BundleLimits()

HEADER = """\
schema:
  format:
    openapi: "3.0.0"
  service_input_type: "SvcInput"
  types:
"""

# As in AWS bundles that Proton registered: a boolean whose default is a word.
MISMATCHED_DEFAULT = (
    HEADER
    + """\
    SvcInput:
      type: object
      properties:
        public:
          type: boolean
          default: public
        port:
          type: number
          default: 80
"""
)


def _load(tmp_path: Path, files: dict[str, str], kind: str = "environment") -> Bundle:
    return load_bundle(write_tree(tmp_path / "bundle", files), kind, limits=LIMITS)  # type: ignore[arg-type]


def _sections(bundle: Bundle) -> list:
    return [s for s in (bundle.infrastructure, bundle.instance, bundle.pipeline) if s]


# -- item 7: every Jinja template compiles at registration -----------------------------------


def test_a_jinja_syntax_error_is_found_with_its_file_line_and_reason(tmp_path: Path) -> None:
    files = service_bundle()
    files["pipeline_infrastructure/cloudformation.yaml"] = (
        "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n"
        "    Properties:\n      BucketName: '{{ service.name }'\n"
    )
    bundle = _load(tmp_path, files, "service")
    check_section(bundle.instance)  # type: ignore[arg-type]
    with pytest.raises(RenderError) as caught:
        check_section(bundle.pipeline)  # type: ignore[arg-type]
    assert caught.value.file == "pipeline_infrastructure/cloudformation.yaml"
    assert caught.value.line == 5
    assert caught.value.reason == "unexpected '}'"


def test_an_unclosed_block_is_found_where_jinja_notices_it(tmp_path: Path) -> None:
    files = env_bundle()
    files["infrastructure/cloudformation.yaml"] = (
        "Resources:\n{% if environment.inputs.size == 'large' %}\n"
        "  Bucket:\n    Type: AWS::S3::Bucket\n"
    )
    with pytest.raises(RenderError) as caught:
        check_section(_load(tmp_path, files).infrastructure)  # type: ignore[arg-type]
    assert caught.value.file == "infrastructure/cloudformation.yaml"
    assert "end of template" in caught.value.reason
    assert "endif" in caught.value.reason


def test_an_include_is_refused_at_registration_as_rendering_would(tmp_path: Path) -> None:
    files = env_bundle()
    files["infrastructure/cloudformation.yaml"] = "Resources: {}\n{% include 'other.yaml' %}\n"
    with pytest.raises(RenderError) as caught:
        check_section(_load(tmp_path, files).infrastructure)  # type: ignore[arg-type]
    assert (caught.value.file, caught.value.line) == ("infrastructure/cloudformation.yaml", 2)


def test_a_codebuild_project_property_that_cannot_compile_is_found(tmp_path: Path) -> None:
    files = {
        "schema/schema.yaml": env_bundle()["schema/schema.yaml"],
        "infrastructure/manifest.yaml": CODEBUILD_MANIFEST.replace(
            '"{{ environment.inputs.vpc_id }}"', '"{{ environment.inputs.vpc_id | }}"'
        ),
        "infrastructure/deploy.sh": "echo '{{ not jinja, shell }}'\n",
    }
    with pytest.raises(RenderError) as caught:
        check_section(_load(tmp_path, files).infrastructure)  # type: ignore[arg-type]
    assert caught.value.file == "infrastructure/manifest.yaml"
    assert caught.value.reason.startswith("project_properties.VpcConfig.VpcId: ")


def test_codebuild_commands_and_terraform_files_are_not_compiled(tmp_path: Path) -> None:
    files = {
        "schema/schema.yaml": env_bundle()["schema/schema.yaml"],
        "infrastructure/manifest.yaml": CODEBUILD_MANIFEST.replace(
            "- ./deploy.sh", "- docker inspect --format '{{.Id}' image"
        ),
    }
    check_section(_load(tmp_path, files).infrastructure)  # type: ignore[arg-type]


def test_a_template_that_compiles_still_renders_the_same(tmp_path: Path) -> None:
    bundle = _load(tmp_path, env_bundle())
    check_section(bundle.infrastructure)  # type: ignore[arg-type]
    rendered = render_section(
        bundle.infrastructure,  # type: ignore[arg-type]
        {"environment": {"name": "dev", "inputs": {"size": "small"}}},
        kind="environment",
        resource_arn="arn:aws:proton:us-east-1:123456789012:environment/dev",
        proton_tags={},
    )
    assert rendered.files["cloudformation.yaml"].startswith("Resources:")


@pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"{SAMPLES} is absent")
def test_every_template_of_the_aws_samples_compiles() -> None:
    bundles = sorted(schema.parent.parent for schema in SAMPLES.glob("**/schema/schema.yaml"))
    assert len(bundles) == 23
    for folder in bundles:
        header = parse_schema((folder / "schema/schema.yaml").read_text())
        bundle = load_bundle(folder, header.kind, limits=LIMITS)
        for section in _sections(bundle):
            check_section(section)


# -- item 13: defaults that break their own property -----------------------------------------


def test_a_boolean_with_a_word_for_default_registers_with_a_warning_naming_it() -> None:
    schema = parse_schema(MISMATCHED_DEFAULT)
    assert schema.warnings == [
        "schema/schema.yaml line 11 (schema.types.SvcInput.properties.public.default): "
        "default must be a boolean, got string 'public'; registered anyway (Proton did not "
        "check defaults), and a spec that leaves this input out renders with the default as "
        "written"
    ]


def test_a_spec_relying_on_a_mismatched_default_gets_it_as_written() -> None:
    schema = parse_schema(MISMATCHED_DEFAULT)
    assert schema.apply_inputs("SvcInput", {}, where="spec") == {"public": "public", "port": 80}


def test_a_spec_value_is_still_checked_where_the_default_is_not_used() -> None:
    schema = parse_schema(MISMATCHED_DEFAULT)
    assert schema.apply_inputs("SvcInput", {"public": True}, where="spec")["public"] is True
    with pytest.raises(SpecError) as caught:
        schema.apply_inputs("SvcInput", {"public": "public"}, where="spec")
    assert [str(p) for p in caught.value.problems] == [
        "spec.public: must be a boolean, got string 'public'"
    ]


def test_a_bundle_with_a_mismatched_default_loads_with_the_warning(tmp_path: Path) -> None:
    files = env_bundle()
    files["schema/schema.yaml"] = files["schema/schema.yaml"].replace(
        "default: small", "default: medium"
    )
    bundle = _load(tmp_path, files)
    assert len(bundle.warnings) == 1
    assert "schema.types.EnvInput.properties.size.default" in bundle.warnings[0]
    assert "must be one of ['small', 'large'], got 'medium'" in bundle.warnings[0]


def test_an_enum_value_that_breaks_its_property_is_still_refused() -> None:
    text = HEADER + "    SvcInput:\n      type: object\n      properties:\n"
    text += "        a: {type: number, enum: [1, two]}\n"
    with pytest.raises(BundleError, match=r"enum value must be a number"):
        parse_schema(text)


# -- item 14: spec keys the schema does not declare ------------------------------------------


NESTED = (
    HEADER
    + """\
    SvcInput:
      type: object
      properties:
        port: {type: number, default: 80}
        db:
          type: object
          properties:
            engine: {type: string, default: postgres}
        labels:
          type: object
          properties:
            team: {type: string}
          additionalProperties: false
        free: {type: object}
"""
)


def test_an_undeclared_input_is_left_out_and_reported_with_a_hint() -> None:
    applied = parse_schema(NESTED).resolve_inputs(
        "SvcInput", {"prot": 8080, "db": {"engine": "mysql", "size": 3}}, where="spec"
    )
    assert applied.values == {"port": 80, "db": {"engine": "mysql"}}
    assert [str(p) for p in applied.ignored] == [
        "spec.prot: unknown input 'prot'; did you mean 'port'?; it is ignored",
        "spec.db.size: unknown property 'size'; known properties: engine; it is ignored",
    ]


def test_an_object_closed_with_additional_properties_false_still_refuses_keys() -> None:
    with pytest.raises(SpecError) as caught:
        parse_schema(NESTED).apply_inputs("SvcInput", {"labels": {"owner": "x"}}, where="spec")
    assert [str(p) for p in caught.value.problems] == [
        "spec.labels.owner: unknown property 'owner'; known properties: team"
    ]


def test_an_object_without_properties_keeps_every_key() -> None:
    applied = parse_schema(NESTED).resolve_inputs("SvcInput", {"free": {"a": 1}}, where="spec")
    assert applied.values["free"] == {"a": 1}
    assert applied.ignored == []


@pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"{SAMPLES} is absent")
def test_the_lambda_multi_svc_readme_spec_is_accepted() -> None:
    schema = parse_schema(
        (SAMPLES / "lambda-multi-svc/service-crud/v1/schema/schema.yaml").read_text()
    )
    applied = schema.resolve_inputs(
        "PipelineInputs",
        {"unit_test_command": "make test", "packaging_commands": "make publish"},
        where="pipeline",
    )
    assert applied.values == {"unit_test_command": "make test", "packaging_command": "make publish"}
    assert [p.field for p in applied.ignored] == ["pipeline.packaging_commands"]


# -- item 6: NaN and Infinity ----------------------------------------------------------------


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_spec_value_is_refused_naming_the_field(value: float) -> None:
    schema = parse_schema(NESTED)
    with pytest.raises(SpecError) as caught:
        schema.apply_inputs("SvcInput", {"port": value}, where="instances[0].spec")
    assert [str(p) for p in caught.value.problems] == [
        f"instances[0].spec.port: must be a finite number, got {value}"
    ]


def test_a_non_finite_value_deep_in_a_spec_is_refused() -> None:
    schema = parse_schema(NESTED)
    with pytest.raises(SpecError) as caught:
        schema.apply_inputs("SvcInput", {"free": {"ratios": [1.0, math.nan]}}, where="spec")
    assert [p.field for p in caught.value.problems] == ["spec.free.ratios[1]"]


@pytest.mark.parametrize(
    ("line", "field", "value"),
    [
        ("        a: {type: number, default: .nan}\n", "default", "nan"),
        ("        a: {type: number, minimum: -.inf}\n", "minimum", "-inf"),
        ("        a: {type: number, maximum: 1.0e+999}\n", "maximum", "inf"),
        ("        a: {type: number, enum: [1, .NaN]}\n", "enum[1]", "nan"),
    ],
)
def test_a_non_finite_number_in_a_schema_is_refused(line: str, field: str, value: str) -> None:
    text = HEADER + "    SvcInput:\n      type: object\n      properties:\n" + line
    with pytest.raises(BundleError) as caught:
        parse_schema(text)
    assert caught.value.field == f"schema.types.SvcInput.properties.a.{field}"
    assert caught.value.line == 9
    assert caught.value.reason == f"{value} is not a number a schema can use (NaN or Infinity)"
