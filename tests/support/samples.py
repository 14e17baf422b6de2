"""Where the conformance corpus lives (../shared/samples beside the checkout), and what each
of its bundle folders holds, read in place."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO.parent / "shared" / "samples" / "aws-proton-cloudformation-sample-templates"

_ENVIRONMENT_OUTPUT = re.compile(r"environment\.outputs\.(\w+)")
_CONDITIONAL = re.compile(r"\{%-?\s*if\b.*?\{%-?\s*endif\s*-?%\}", re.DOTALL)


@dataclass(frozen=True)
class Sample:
    """One bundle folder (the one holding ``schema/``), as AWS published it."""

    path: Path

    @property
    def id(self) -> str:
        return str(self.path.relative_to(SAMPLES))

    @property
    def template(self) -> str:
        """Its template name: bundles live in ``<template-name>/v<major>/``."""
        return self.path.parent.name

    @property
    def kind(self) -> str:
        return "environment" if (self.path / "infrastructure").is_dir() else "service"

    @property
    def has_pipeline(self) -> bool:
        return (self.path / "pipeline_infrastructure").is_dir()

    @property
    def compatible_environments(self) -> list[tuple[str, str]]:
        lines = (self.path / ".compatible-envs").read_text().split()
        return [(line.split(":")[0], line.split(":")[1]) for line in lines]

    @property
    def reads_components(self) -> bool:
        return "components.default" in self._iac("instance_infrastructure")

    def files(self) -> dict[str, bytes]:
        return {
            str(p.relative_to(self.path)): p.read_bytes()
            for p in sorted(self.path.rglob("*"))
            if p.is_file()
        }

    def spec_documents(self) -> dict[str, dict[str, Any]]:
        """The example specs nearest to the bundle (``spec/`` or ``specs/`` folders above it),
        by file name."""
        for folder in self.path.parents:
            if folder == SAMPLES.parent:
                return {}
            found = sorted([*folder.glob("spec/*.yaml"), *folder.glob("specs/*.yaml")])
            if found:
                return {p.name: yaml.safe_load(p.read_text()) for p in found}
        return {}

    def instance_inputs(self) -> set[str]:
        schema = yaml.safe_load((self.path / "schema" / "schema.yaml").read_text())["schema"]
        node = schema["types"][schema["service_input_type"]]
        return set(node.get("properties") or {})

    def environment_outputs_read(self) -> set[str]:
        """The environment outputs its instance template reads whatever the inputs."""
        return set(_ENVIRONMENT_OUTPUT.findall(self._unconditional("instance_infrastructure")))

    @property
    def lists_instances_in_pipeline(self) -> bool:
        return "in service_instances" in self._iac("pipeline_infrastructure")

    def _unconditional(self, folder: str) -> str:
        """The IaC without its ``{% if %}`` blocks (the samples never nest them)."""
        return _CONDITIONAL.sub("", self._iac(folder))

    def _iac(self, folder: str) -> str:
        return "".join(p.read_text() for p in sorted((self.path / folder).glob("*.yaml")))


@cache
def sample_bundles() -> tuple[Sample, ...]:
    """Every bundle in the corpus, environments first; empty when the corpus is absent."""
    found = [Sample(schema.parent.parent) for schema in SAMPLES.rglob("schema/schema.yaml")]
    return tuple(sorted(found, key=lambda s: (s.kind != "environment", s.id)))
