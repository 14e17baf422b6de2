"""Loading whole bundles: the shapes that must load, and broken ones with precise reasons."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from baryon.bundles import (
    BundleError,
    BundleLimits,
    load_bundle,
    load_bundle_bytes,
    pack_directory,
    read_registration_file,
)
from tests.bundles.bundle_builders import (
    CFN_MANIFEST,
    CFN_TEMPLATE,
    CODEBUILD_MANIFEST,
    ENV_SCHEMA,
    SERVICE_SCHEMA,
    TF_MANIFEST,
    env_bundle,
    service_bundle,
    tar_of_tree,
    write_tree,
)

LIMITS = BundleLimits()

CUSTOMER_MANAGED_SCHEMA = """\
schema:
  format:
    openapi: "3.0.0"
  environment_input_type: "Outputs"
  types:
    Outputs:
      type: object
      properties:
        vpc_id:
          type: string
        cluster_arn:
          type: string
          description: "Made outside Baryon"
"""


def load(tmp_path: Path, files: dict[str, str | bytes], kind: str, **flags: bool):  # type: ignore[no-untyped-def]
    root = write_tree(tmp_path / "bundle", files)
    return load_bundle(root, kind, limits=LIMITS, **flags)  # type: ignore[arg-type]


# -- bundles that load ---------------------------------------------------------------------


def test_cloudformation_environment(tmp_path: Path) -> None:
    bundle = load(tmp_path, env_bundle(), "environment")
    assert bundle.kind == "environment"
    assert bundle.schema.environment_input_type == "EnvInput"
    assert bundle.infrastructure is not None
    assert bundle.infrastructure.files == {"cloudformation.yaml": CFN_TEMPLATE}
    template = bundle.infrastructure.manifest.templates[0]
    assert (template.rendering_engine, template.template_language) == ("jinja", "cloudformation")
    assert bundle.instance is None and bundle.pipeline is None
    assert sorted(bundle.files) == sorted(env_bundle())
    assert bundle.compatible_environments is None and bundle.warnings == []


def test_digest_depends_on_content_only(tmp_path: Path) -> None:
    first = load(tmp_path / "a", env_bundle(), "environment")
    same = load(tmp_path / "b", {**env_bundle(), ".DS_Store": b"junk"}, "environment")
    changed = load(
        tmp_path / "c",
        {**env_bundle(), "infrastructure/cloudformation.yaml": CFN_TEMPLATE + "# v2\n"},
        "environment",
    )
    assert first.digest == same.digest != changed.digest
    assert len(first.digest) == 64


def test_terraform_wildcard_takes_every_top_level_tf_file(tmp_path: Path) -> None:
    files = {
        "schema/schema.yaml": ENV_SCHEMA,
        "infrastructure/manifest.yaml": TF_MANIFEST,
        "infrastructure/main.tf": 'resource "null_resource" "a" {}\n',
        "infrastructure/variables.tf": 'variable "environment" {}\n',
        "infrastructure/outputs.tf": 'output "vpc_id" { value = "x" }\n',
        "infrastructure/README.md": "not terraform",
        "infrastructure/modules/net/main.tf": "# a module, read by terraform, not listed\n",
    }
    bundle = load(tmp_path, files, "environment")
    assert bundle.infrastructure is not None
    assert list(bundle.infrastructure.files) == ["main.tf", "outputs.tf", "variables.tf"]
    assert "infrastructure/modules/net/main.tf" in bundle.files
    template = bundle.infrastructure.manifest.templates[0]
    assert (template.rendering_engine, template.file) == ("hcl", "*")


def test_terraform_single_file_service_without_pipeline(tmp_path: Path) -> None:
    files = service_bundle(pipeline=False)
    files["instance_infrastructure/manifest.yaml"] = TF_MANIFEST.replace('"*"', "main.tf")
    files["instance_infrastructure/main.tf"] = "# instance\n"
    del files["instance_infrastructure/cloudformation.yaml"]
    bundle = load(tmp_path, files, "service", pipeline_provisioning_customer_managed=True)
    assert bundle.instance is not None and list(bundle.instance.files) == ["main.tf"]
    assert bundle.pipeline is None and bundle.schema.pipeline_input_type is None
    assert bundle.compatible_environments == [("test-env", "1")]


def test_codebuild_service_with_registration_file(tmp_path: Path) -> None:
    files = service_bundle()
    del files[".compatible-envs"]
    files.update(
        {
            "instance_infrastructure/manifest.yaml": CODEBUILD_MANIFEST,
            "instance_infrastructure/deploy.sh": "#!/bin/sh\n",
            "instance_infrastructure/cdk/app.ts": "// cdk app\n",
            "pipeline_infrastructure/manifest.yaml": CODEBUILD_MANIFEST.replace(
                "rendering_engine: codebuild", "rendering_engine: codebuild\n      input_type: HCL"
            ),
            ".template-registration.yaml": (
                "compatible_environments:\n  - cb-env:1\n  - cb-env:2\n"
                "supported_component_sources:\n  - DIRECTLY_DEFINED\n"
            ),
        }
    )
    bundle = load(tmp_path, files, "service")
    assert bundle.instance is not None and bundle.pipeline is not None
    # CodeBuild commands use the whole folder: every text file of it goes to the run.
    assert bundle.instance.files["deploy.sh"] == "#!/bin/sh\n"
    assert bundle.instance.files["cdk/app.ts"] == "// cdk app\n"
    assert "manifest.yaml" in bundle.instance.files
    assert not any(name.startswith("pipeline") for name in bundle.instance.files)
    instance = bundle.instance.manifest.templates[0]
    assert instance.rendering_engine == "codebuild" and instance.input_type == "JSON"
    assert instance.file is None and instance.template_language is None
    settings = instance.settings
    assert settings is not None
    assert settings.provision == ["npm ci", "./deploy.sh"]
    assert settings.deprovision == ["./destroy.sh"]
    assert settings.image == "aws/codebuild/amazonlinux2-x86_64-standard:4.0"
    assert settings.runtimes == {"nodejs": 16}
    assert settings.env_variables == {"TF_VERSION": "1.4.2"}
    assert settings.env_secrets_manager == {"TOKEN": "team/token:Secret"}
    assert settings.project_properties == {
        "VpcConfig": {"VpcId": "{{ environment.inputs.vpc_id }}"}
    }
    assert bundle.pipeline.manifest.templates[0].input_type == "HCL"
    assert bundle.compatible_environments == [("cb-env", "1"), ("cb-env", "2")]
    assert bundle.supported_component_sources == ["DIRECTLY_DEFINED"]
    assert "instance_infrastructure/cdk/app.ts" in bundle.files


def test_registration_typo_key_is_accepted_with_a_warning(tmp_path: Path) -> None:
    files = service_bundle()
    del files[".compatible-envs"]
    files[".template-registration.yaml"] = "compatible_environment:\n  - tf-vpc:1\n"
    bundle = load(tmp_path, files, "service")
    assert bundle.compatible_environments == [("tf-vpc", "1")]
    assert bundle.warnings == [
        ".template-registration.yaml line 1 (compatible_environment): 'compatible_environment' "
        "is read as 'compatible_environments'; please fix the spelling"
    ]


def test_registration_can_be_read_without_loading_the_bundle(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "b", {"my-svc/.compatible-envs": "a-env:1\nb-env:2\n"})
    (root / "my-svc" / "schema").mkdir()
    (root / "my-svc" / "schema" / "schema.yaml").write_text("not even parsed")
    registration = read_registration_file(root)
    assert registration.compatible_environments == [("a-env", "1"), ("b-env", "2")]
    assert registration.supported_component_sources is None


def test_codebuild_environment(tmp_path: Path) -> None:
    files = {
        "schema/schema.yaml": ENV_SCHEMA,
        "infrastructure/manifest.yaml": CODEBUILD_MANIFEST,
        "infrastructure/deploy.sh": "#!/bin/sh\n",
    }
    bundle = load(tmp_path, files, "environment")
    assert bundle.infrastructure is not None
    assert bundle.infrastructure.manifest.templates[0].settings is not None


def test_customer_managed_environment_is_schema_only(tmp_path: Path) -> None:
    files = {"schema/schema.yaml": CUSTOMER_MANAGED_SCHEMA}
    bundle = load(tmp_path, files, "environment", customer_managed=True)
    assert bundle.infrastructure is None
    assert bundle.schema.apply_inputs("Outputs", {"vpc_id": "vpc-1"}, where="spec") == {
        "vpc_id": "vpc-1"
    }


def test_odd_extras_are_kept_with_warnings(tmp_path: Path) -> None:
    files = {**env_bundle(), "docs/notes.md": "x", ".compatible-envs": "other-env:1\n"}
    bundle = load(tmp_path, files, "environment")
    assert bundle.compatible_environments is None
    assert "docs/notes.md" in bundle.files
    assert bundle.warnings == [
        "unexpected folder 'docs/' is kept in the bundle but not used",
        "registration files only apply to service templates; ignored",
    ]


def test_wrapper_folder_is_found_on_disk_too(tmp_path: Path) -> None:
    files = {f"my-env/{name}": text for name, text in env_bundle().items()}
    files[".DS_Store"] = "junk"  # ignored without a warning
    bundle = load(tmp_path, files, "environment")
    assert sorted(bundle.files) == sorted(env_bundle())
    assert bundle.warnings == []


def test_upload_leaves_no_scratch_folder(tmp_path: Path) -> None:
    work = tmp_path / "work"
    data = tar_of_tree(env_bundle(), wrapper="environment/")
    bundle = load_bundle_bytes(data, "environment", limits=LIMITS, workdir=work)
    assert bundle.kind == "environment"
    assert list(work.iterdir()) == []


def test_publish_round_trip_gives_identical_archives(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "b", env_bundle())
    first = pack_directory(root, LIMITS)
    os.utime(root / "schema/schema.yaml", (1, 1))  # timestamps must not matter
    assert pack_directory(root, LIMITS) == first
    bundle = load_bundle_bytes(first, "environment", limits=LIMITS, workdir=tmp_path / "w")
    assert bundle.files["schema/schema.yaml"] == ENV_SCHEMA.encode()


# -- broken bundles ------------------------------------------------------------------------


def _without(files: dict[str, str], *names: str) -> dict[str, str]:
    return {name: text for name, text in files.items() if name not in names}


def _env_manifest(text: str) -> dict[str, str]:
    return {**env_bundle(), "infrastructure/manifest.yaml": text}


def _env_schema(old: str, new: str) -> dict[str, str]:
    assert old in ENV_SCHEMA
    return {**env_bundle(), "schema/schema.yaml": ENV_SCHEMA.replace(old, new)}


BROKEN: dict[str, tuple[dict[str, str], str, dict[str, bool], str]] = {
    "missing schema": (
        _without(env_bundle(), "schema/schema.yaml"),
        "environment",
        {},
        "no schema/schema.yaml found at the archive root or under a single top-level folder; "
        "found: infrastructure/",
    ),
    "bad yaml": (
        _env_schema("          enum: [small, large]", "          enum: [small, large"),
        "environment",
        {},
        "schema/schema.yaml line 17: invalid YAML: while parsing a flow sequence, "
        "did not find expected ',' or ']' (opened on line 16)",
    ),
    "unknown type keyword": (
        _env_schema("default: small", "default: small\n          maximun: 3"),
        "environment",
        {},
        "schema/schema.yaml line 18 (schema.types.EnvInput.properties.size.maximun): "
        "unknown schema keyword 'maximun'; did you mean 'maximum'?",
    ),
    "default is NaN": (
        {**service_bundle(), "schema/schema.yaml": SERVICE_SCHEMA.replace("80", ".nan")},
        "service",
        {},
        "schema/schema.yaml line 12 (schema.types.SvcInput.properties.port.default): "
        "nan is not a number a schema can use (NaN or Infinity)",
    ),
    "bad regex": (
        _env_schema("pattern: ([0-9]{1,3}", "pattern: ([0-9]{1,3}]["),
        "environment",
        {},
        "schema/schema.yaml line 13 (schema.types.EnvInput.properties.vpc_cidr.pattern): "
        "pattern '([0-9]{1,3}][\\\\.){3}[0-9]{1,3}($|/(16|24))' is not a valid regular "
        "expression: missing ), unterminated subpattern at position 0",
    ),
    "required names a missing property": (
        {**service_bundle(), "schema/schema.yaml": SERVICE_SCHEMA.replace("[image]", "[imag]")},
        "service",
        {},
        "schema/schema.yaml line 18 (schema.types.SvcInput.required[0]): "
        "'required' names 'imag', which is not a property of this type",
    ),
    "manifest names a missing file": (
        _without(env_bundle(), "infrastructure/cloudformation.yaml"),
        "environment",
        {},
        "infrastructure/manifest.yaml line 3 (infrastructure.templates[0].file): "
        "names 'cloudformation.yaml', which does not exist in infrastructure/",
    ),
    "unknown rendering engine": (
        _env_manifest(CFN_MANIFEST.replace("jinja", "mustache")),
        "environment",
        {},
        "infrastructure/manifest.yaml line 4 (infrastructure.templates[0].rendering_engine): "
        "unknown rendering_engine 'mustache' (expected jinja, hcl or codebuild)",
    ),
    "pipeline folder without pipeline_input_type": (
        {
            **service_bundle(),
            "schema/schema.yaml": service_bundle(pipeline=False)["schema/schema.yaml"],
        },
        "service",
        {},
        "schema/schema.yaml line 1 (schema): the bundle has pipeline_infrastructure/ but the "
        "schema declares no pipeline_input_type",
    ),
    "pipeline_input_type without pipeline folder": (
        _without(
            service_bundle(),
            "pipeline_infrastructure/manifest.yaml",
            "pipeline_infrastructure/cloudformation.yaml",
        ),
        "service",
        {},
        "schema/schema.yaml line 5 (schema.pipeline_input_type): pipeline_input_type "
        "'PipeInput' is declared but the bundle has no pipeline_infrastructure/",
    ),
    "pipeline present but pipeline is customer-managed": (
        service_bundle(),
        "service",
        {"pipeline_provisioning_customer_managed": True},
        "schema/schema.yaml line 5 (schema.pipeline_input_type): the template's pipeline is "
        "customer-managed (pipelineProvisioning CUSTOMER_MANAGED), so remove "
        "pipeline_input_type and pipeline_infrastructure/",
    ),
    "no pipeline without customer-managed pipeline": (
        service_bundle(pipeline=False),
        "service",
        {},
        "schema/schema.yaml line 1 (schema): the bundle defines no pipeline (no "
        "pipeline_input_type, no pipeline_infrastructure/); add one or register the template "
        "with pipelineProvisioning CUSTOMER_MANAGED",
    ),
    "customer-managed environment with infrastructure": (
        {**env_bundle(), "schema/schema.yaml": CUSTOMER_MANAGED_SCHEMA},
        "environment",
        {"customer_managed": True},
        "infrastructure/: a customer-managed environment bundle holds only schema/; "
        "remove infrastructure/",
    ),
    "customer-managed output with a default": (
        {
            "schema/schema.yaml": CUSTOMER_MANAGED_SCHEMA.replace(
                "          type: string\n        cluster",
                "          type: string\n          default: vpc-1\n        cluster",
            )
        },
        "environment",
        {"customer_managed": True},
        "schema/schema.yaml line 11 (schema.types.Outputs.properties.vpc_id.default): "
        "customer-managed environment output 'vpc_id' must not have a default",
    ),
    "customer-managed output that is not a string": (
        {
            "schema/schema.yaml": CUSTOMER_MANAGED_SCHEMA.replace(
                "type: string\n          description", "type: number\n          description"
            )
        },
        "environment",
        {"customer_managed": True},
        "schema/schema.yaml line 12 (schema.types.Outputs.properties.cluster_arn.type): "
        "customer-managed environment output 'cluster_arn' must be type string",
    ),
    "environment bundle registered as service": (
        env_bundle(),
        "service",
        {},
        "schema/schema.yaml line 4 (schema.environment_input_type): this is an environment "
        "template bundle (the schema declares environment_input_type), but it is being "
        "registered as a service template",
    ),
    "service bundle registered as environment": (
        service_bundle(),
        "environment",
        {},
        "schema/schema.yaml line 4 (schema.service_input_type): this is a service template "
        "bundle (the schema declares service_input_type), but it is being registered as an "
        "environment template",
    ),
    "service folder in an environment bundle": (
        {**env_bundle(), "instance_infrastructure/manifest.yaml": CFN_MANIFEST},
        "environment",
        {},
        "instance_infrastructure/: instance_infrastructure/ belongs in service template "
        "bundles; an environment bundle cannot contain it",
    ),
    "service without instance_infrastructure": (
        _without(
            service_bundle(),
            "instance_infrastructure/manifest.yaml",
            "instance_infrastructure/cloudformation.yaml",
        ),
        "service",
        {},
        "instance_infrastructure/manifest.yaml: not found; instance_infrastructure/ needs a "
        "manifest.yaml",
    ),
    "schema too large": (
        _env_schema("Inputs for a test environment", "x" * 52_000),
        "environment",
        {},
        "schema/schema.yaml: file is 52382 bytes; the limit is 51200",
    ),
    "terraform wildcard without tf files": (
        _env_manifest(TF_MANIFEST),
        "environment",
        {},
        "infrastructure/manifest.yaml line 3 (infrastructure.templates[0].file): "
        "'*' matches no .tf file in infrastructure/",
    ),
    "codebuild without provision": (
        _env_manifest(CODEBUILD_MANIFEST.split("        provision:")[0]),
        "environment",
        {},
        "infrastructure/manifest.yaml line 4 (infrastructure.templates[0].settings): "
        "missing 'provision' (the commands that deploy)",
    ),
    "manifest file escaping its folder": (
        _env_manifest(CFN_MANIFEST.replace("cloudformation.yaml", "../schema/schema.yaml")),
        "environment",
        {},
        "infrastructure/manifest.yaml line 3 (infrastructure.templates[0].file): "
        "'../schema/schema.yaml' must be a plain path inside the IaC folder",
    ),
    "bad compatible-envs line": (
        {**service_bundle(), ".compatible-envs": "test-env:1\nfargate env\n"},
        "service",
        {},
        ".compatible-envs line 2: 'fargate env' must look like 'template-name:major-version'",
    ),
    "input type missing from types": (
        _env_schema('environment_input_type: "EnvInput"', 'environment_input_type: "Env"'),
        "environment",
        {},
        "schema/schema.yaml line 4 (schema.environment_input_type): environment_input_type "
        "'Env' is not defined under 'types'",
    ),
    "wrong openapi version": (
        _env_schema('openapi: "3.0.0"', 'openapi: "3.1.0"'),
        "environment",
        {},
        "schema/schema.yaml line 3 (schema.format.openapi): openapi must be \"3.0.0\", got '3.1.0'",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_bundle_is_refused_with_a_precise_reason(case: str, tmp_path: Path) -> None:
    files, kind, flags, expected = BROKEN[case]
    with pytest.raises(BundleError) as caught:
        load(tmp_path, files, kind, **flags)  # type: ignore[arg-type]
    assert str(caught.value) == expected


def test_error_parts_are_available_separately(tmp_path: Path) -> None:
    files, kind, flags, _ = BROKEN["default is NaN"]
    with pytest.raises(BundleError) as caught:
        load(tmp_path, files, kind, **flags)
    error = caught.value
    assert (error.file, error.line, error.field) == (
        "schema/schema.yaml",
        12,
        "schema.types.SvcInput.properties.port.default",
    )
    assert error.reason == "nan is not a number a schema can use (NaN or Infinity)"


def test_symlink_in_a_bundle_folder_is_refused(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "bundle", env_bundle())
    (root / "infrastructure" / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(BundleError) as caught:
        load_bundle(root, "environment", limits=LIMITS)
    assert str(caught.value) == (
        "infrastructure/passwd: is a symbolic link; bundles must contain regular files only"
    )


def test_iac_file_must_be_utf8(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        **env_bundle(),
        "infrastructure/cloudformation.yaml": b"\xff\xfe",
    }
    with pytest.raises(BundleError) as caught:
        load(tmp_path, files, "environment")
    assert str(caught.value) == (
        "infrastructure/cloudformation.yaml: is not UTF-8 text (invalid start byte at byte 0)"
    )


def test_two_candidate_wrapper_folders_are_explained(tmp_path: Path) -> None:
    files = {f"a/{name}": text for name, text in env_bundle().items()}
    files.update({f"b/{name}": text for name, text in env_bundle().items()})
    files["notes.txt"] = "x"
    with pytest.raises(BundleError) as caught:
        load(tmp_path, files, "environment")
    assert str(caught.value).endswith("found: a/, b/, notes.txt")
