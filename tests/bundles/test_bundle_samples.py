"""AWS's published CloudFormation sample bundles must all load (conformance corpus).

They are read from ../shared/samples beside the checkout; the tests skip only when that
folder is absent. Nothing from the samples is copied into the project.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from baryon.bundles import (
    Bundle,
    BundleLimits,
    content_digest,
    load_bundle_bytes,
    pack_directory,
)
from baryon.bundles.tree import read_tree
from baryon.bundles.yaml_source import load_yaml
from tests.bundles.bundle_builders import tar_bytes, tar_member
from tests.support.samples import SAMPLES

LIMITS = BundleLimits()
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"{SAMPLES} is absent")


def _bundle_dirs() -> list[Path]:
    if not SAMPLES.is_dir():
        return []
    return sorted(schema.parent.parent for schema in SAMPLES.glob("**/schema/schema.yaml"))


def _header(bundle_dir: Path) -> dict[str, object]:
    doc = load_yaml((bundle_dir / "schema/schema.yaml").read_text(), "s", max_bytes=1 << 20)
    return doc.data["schema"]


def _expected_envs(bundle_dir: Path) -> list[tuple[str, str]] | None:
    legacy = bundle_dir / ".compatible-envs"
    if not legacy.is_file():
        return None
    lines = [line.strip() for line in legacy.read_text().splitlines() if line.strip()]
    return [tuple(line.split(":")) for line in lines]  # type: ignore[misc]


def _kind(bundle_dir: Path) -> str:
    return "environment" if "environment_input_type" in _header(bundle_dir) else "service"


BUNDLES = _bundle_dirs()
IDS = [str(path.relative_to(SAMPLES)) for path in BUNDLES]


@needs_samples
def test_corpus_holds_every_published_bundle() -> None:
    # Reference section 1.1: 6 environment and 17 service bundles.
    kinds = [_kind(path) for path in BUNDLES]
    assert (kinds.count("environment"), kinds.count("service")) == (6, 17)


def _check(bundle: Bundle, bundle_dir: Path, warnings: list[str] | None = None) -> None:
    header = _header(bundle_dir)
    assert bundle.kind == _kind(bundle_dir)
    assert (bundle.pipeline is not None) == ("pipeline_input_type" in header)
    assert bundle.compatible_environments == _expected_envs(bundle_dir)
    section = bundle.infrastructure if bundle.kind == "environment" else bundle.instance
    assert section is not None
    assert list(section.files) == ["cloudformation.yaml"]
    assert bundle.warnings == (warnings or [])


@needs_samples
@pytest.mark.parametrize("bundle_dir", BUNDLES, ids=IDS)
def test_sample_loads_from_packed_archive(bundle_dir: Path, tmp_path: Path) -> None:
    data = pack_directory(bundle_dir, LIMITS)
    bundle = load_bundle_bytes(data, _kind(bundle_dir), limits=LIMITS, workdir=tmp_path)  # type: ignore[arg-type]
    _check(bundle, bundle_dir)
    assert list(tmp_path.iterdir()) == []  # the private extraction folder is gone


@needs_samples
@pytest.mark.parametrize("bundle_dir", BUNDLES, ids=IDS)
def test_sample_loads_from_wrapper_folder_tar(bundle_dir: Path, tmp_path: Path) -> None:
    # The other shape AWS documents: `tar -czf bundle.tar.gz v1/`, with a stray README.
    members = [tar_member("README.md", b"stray")]
    members += [
        tar_member(f"v1/{path.relative_to(bundle_dir)}", path.read_bytes())
        for path in sorted(bundle_dir.rglob("*"))
        if path.is_file()
    ]
    kind = _kind(bundle_dir)
    bundle = load_bundle_bytes(tar_bytes(members), kind, limits=LIMITS, workdir=tmp_path)  # type: ignore[arg-type]
    _check(bundle, bundle_dir, warnings=["ignored 'README.md' next to the bundle folder 'v1/'"])
    # The wrapper is stripped: same files, same digest as the folder itself.
    assert bundle.digest == content_digest(read_tree(bundle_dir, LIMITS))


def _env_bundle_for(spec: Path) -> Path:
    group = spec.parent.parent  # <group>/spec/spec.yaml or <group>/specs/env-spec.yaml
    candidates = [
        path for path in BUNDLES if group in path.parents and _kind(path) == "environment"
    ]
    assert len(candidates) == 1, candidates
    return candidates[0]


ENV_SPECS = sorted(
    spec
    for pattern in ("*/*/spec/spec.yaml", "*/spec/spec.yaml", "*/specs/*.yaml")
    for spec in (SAMPLES.glob(pattern) if SAMPLES.is_dir() else [])
    if "EnvironmentSpec" in spec.read_text()
)


@needs_samples
def test_every_sample_environment_spec_was_found() -> None:
    assert len(ENV_SPECS) == 6


@needs_samples
@pytest.mark.parametrize("spec", ENV_SPECS, ids=[str(s.relative_to(SAMPLES)) for s in ENV_SPECS])
def test_sample_environment_spec_fits_its_schema(spec: Path, tmp_path: Path) -> None:
    bundle_dir = _env_bundle_for(spec)
    bundle = load_bundle_bytes(
        pack_directory(bundle_dir, LIMITS), "environment", limits=LIMITS, workdir=tmp_path
    )
    values = load_yaml(spec.read_text(), spec.name, max_bytes=1 << 20).data["spec"]
    name = bundle.schema.environment_input_type
    assert name is not None
    merged = bundle.schema.apply_inputs(name, values, where="spec")
    properties = bundle.schema.types[name]["properties"]
    defaults = {key: prop["default"] for key, prop in properties.items() if "default" in prop}
    assert merged == {**defaults, **values}  # every omitted input got its default


@needs_samples
def test_sample_service_spec_typo_is_reported(tmp_path: Path) -> None:
    # lambda-multi-svc/specs/svc-spec.yaml says `packaging_commands`; the schema's input is
    # `packaging_command`. Proton took that spec, so the key is ignored and reported.
    bundle = load_bundle_bytes(
        pack_directory(SAMPLES / "lambda-multi-svc/service-crud/v1", LIMITS),
        "service",
        limits=LIMITS,
        workdir=tmp_path,
    )
    spec = load_yaml(
        (SAMPLES / "lambda-multi-svc/specs/svc-spec.yaml").read_text(), "svc", max_bytes=1 << 20
    ).data
    instance = bundle.schema.apply_inputs(
        "CrudServiceInput", spec["instances"][0]["spec"], where="instances[0].spec"
    )
    assert instance["lambda_memory"] == 512
    pipeline = bundle.schema.resolve_inputs("PipelineInputs", spec["pipeline"], where="pipeline")
    assert "packaging_commands" not in pipeline.values
    assert [str(problem) for problem in pipeline.ignored] == [
        "pipeline.packaging_commands: unknown input 'packaging_commands'; "
        "did you mean 'packaging_command'?; it is ignored"
    ]
