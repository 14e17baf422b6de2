"""Conformance: every CloudFormation IaC file of AWS's sample bundles renders to a template
that parses and passes cfn-lint's error rules (except the documented IGNORED_RULES).

Inputs come from the sample specs beside each bundle (or schema defaults), environment
outputs from rendering the compatible environment template, and pipelines see the outputs
of their rendered instances (tests/render/corpus.py). The samples are read in place and
the tests skip only where the corpus folder is absent.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from baryon.cloud.template_checks import parse_template, unresolved_references
from baryon.render import parse_cloudformation, render_section
from tests.render.cfn_lint import unexpected_errors
from tests.render.corpus import (
    COMPONENT,
    SampleBundle,
    Spec,
    namespace_for,
    sample_bundles,
    sections,
    specs_for,
)
from tests.support.samples import REPO, SAMPLES

needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"{SAMPLES} is absent")
KIND = {
    "infrastructure": "environment",
    "instance_infrastructure": "service_instance",
    "pipeline_infrastructure": "pipeline",
}
ARN = "arn:aws:proton:us-east-1:111122223333:environment/sample"
# Jinja delimiters left in the output; CloudFormation's own {{resolve:...}} is allowed.
LEFTOVER = re.compile(r"\{%|\{\{(?!resolve:)")

CASES = [
    (sample, folder, spec)
    for sample in sample_bundles()
    for folder in [section.folder for section in sections(sample)]
    for spec in specs_for(sample)
]
INSTANCE_CASES = [case for case in CASES if case[1] == "instance_infrastructure"]
LB_FARGATE = "service-templates/load-balanced-fargate-svc/v1"


def _id(case: tuple[SampleBundle, str, Spec]) -> str:
    sample, folder, spec = case
    return f"{sample.id}/{folder}@{spec.id}"


def _render(sample: SampleBundle, folder: str, spec: Spec, **extra: object) -> str:
    (section,) = [s for s in sections(sample) if s.folder == folder]
    namespace = namespace_for(sample, section, spec, **extra)  # type: ignore[arg-type]
    rendered = render_section(
        section, namespace, kind=KIND[folder], resource_arn=ARN, proton_tags={}
    )
    assert rendered.engine == "cloudformation"
    (text,) = rendered.files.values()
    return text


@needs_samples
def test_corpus_has_every_cloudformation_file() -> None:
    files = sorted(SAMPLES.glob("*/**/*infrastructure/cloudformation.yaml"))
    rendered = {f"{s.id}/{folder}/cloudformation.yaml" for s, folder, _ in CASES}
    assert {str(f.relative_to(SAMPLES)) for f in files} == rendered
    assert len(rendered) == 40  # 6 environments, 17 instances, 17 pipelines


@needs_samples
def test_sample_specs_are_used() -> None:
    # Every sample spec file fits at least one bundle beside it.
    every = {*SAMPLES.glob("**/spec/*.yaml"), *SAMPLES.glob("**/specs/*.yaml")}
    used = {spec.path for _, _, spec in CASES if spec.path}
    assert used == every
    assert len(used) == 22


@needs_samples
@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_sample_renders_to_valid_cloudformation(case: tuple[SampleBundle, str, Spec]) -> None:
    sample, folder, spec = case
    text = _render(sample, folder, spec)
    assert not LEFTOVER.search(text)
    template = parse_cloudformation(text, folder)
    assert template["Resources"]
    assert unexpected_errors(text, sample.id) == []
    # The local cloud's reference check (AWS's "Unresolved resource dependencies") accepts it.
    assert unresolved_references(parse_template(text)) == {}


DEFAULT_CASES = [
    (sample, section.folder, Spec(None, {}))
    for sample in sample_bundles()
    for section in sections(sample)
]


@needs_samples
@pytest.mark.parametrize("case", DEFAULT_CASES, ids=[_id(c) for c in DEFAULT_CASES])
def test_sample_renders_with_schema_defaults(case: tuple[SampleBundle, str, Spec]) -> None:
    # No spec at all: defaults, plausible values for required inputs, and two instances
    # for pipelines (their loops run more than once).
    text = _render(*case)
    assert not LEFTOVER.search(text)
    assert parse_cloudformation(text, case[1])["Resources"]


_RENDER_IN_A_CHILD = """
import sys
from tests.render.test_render_samples import COMPONENT, CASES, _render
case = next(c for c in CASES if c[0].id == sys.argv[1] and c[1] == sys.argv[2])
sys.stdout.write(_render(*case, component=COMPONENT))
"""


@needs_samples
def test_rendering_is_deterministic_across_processes() -> None:
    # Same inputs, same bytes, even with different string hashing (set and dict-of-hash
    # orders) in other processes: what a preview shows is what a worker deploys.
    sample, folder, spec = next(c for c in INSTANCE_CASES if c[0].id == LB_FARGATE)
    here = _render(sample, folder, spec, component=COMPONENT)
    assert _render(sample, folder, spec, component=COMPONENT) == here
    for seed in ("1", "2"):
        child = subprocess.run(
            [sys.executable, "-c", _RENDER_IN_A_CHILD, sample.id, folder],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
            env={"PYTHONHASHSEED": seed, "PATH": os.environ.get("PATH", "")},
        )
        assert child.stdout == here


@needs_samples
@pytest.mark.parametrize("case", INSTANCE_CASES, ids=[_id(c) for c in INSTANCE_CASES])
def test_sample_instance_renders_with_a_component(case: tuple[SampleBundle, str, Spec]) -> None:
    sample, folder, spec = case
    text = _render(sample, folder, spec, component=COMPONENT)
    parse_cloudformation(text, folder)
    assert unexpected_errors(text, sample.id) == []


@needs_samples
def test_component_outputs_land_at_the_filter_column() -> None:
    # The one sample that reads component outputs; without column-aware re-indentation
    # its two filters produce invalid YAML (reference section 3.4).
    (case,) = [c for c in INSTANCE_CASES if c[0].id == LB_FARGATE]
    resources = parse_cloudformation(_render(*case, component=COMPONENT), "x")["Resources"]
    role = resources["ServiceTaskDefTaskRole"]["Properties"]
    assert role["ManagedPolicyArns"] == [
        {"Ref": "BaseTaskRoleManagedPolicy"},
        COMPONENT.outputs["BucketAccessPolicyArn"],
        COMPONENT.outputs["LogsPolicyArn"],
    ]
    (container,) = resources["ServiceTaskDef"]["Properties"]["ContainerDefinitions"]
    assert container["Environment"][3:] == [
        {"Name": name, "Value": COMPONENT.outputs[name]} for name in sorted(COMPONENT.outputs)
    ]


@needs_samples
def test_without_a_component_the_sample_gets_no_extra_entries() -> None:
    (case,) = [c for c in INSTANCE_CASES if c[0].id == LB_FARGATE]
    resources = parse_cloudformation(_render(*case), "x")["Resources"]
    assert resources["ServiceTaskDefTaskRole"]["Properties"]["ManagedPolicyArns"] == [
        {"Ref": "BaseTaskRoleManagedPolicy"}
    ]
    (container,) = resources["ServiceTaskDef"]["Properties"]["ContainerDefinitions"]
    assert [entry["Name"] for entry in container["Environment"]] == [
        "SNS_TOPIC_ARN",
        "SNS_REGION",
        "BACKEND_URL",
    ]
