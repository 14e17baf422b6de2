"""Environment and service specs: parsed as YAML, checked against a version's schema.

Every error becomes one InvalidInput on the ``spec`` member that lists all problems, each
naming where it is (``spec.vpc_cidr``, ``instances[1].spec.port``) and what was expected, so
that a developer fixes a spec in one round trip.

A request's spec is parsed once, where the request arrives: the parsed document keeps its text
and the YAML it read (`SpecSource`), and everything after that (resolving
``${Proton::CURRENT_VAL}`` into the stored text, the plan's inputs) works from the document.
`_read` is the one place spec text becomes YAML.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import yaml

from baryon.bundles.errors import (
    BundleError,
    PathPart,
    SpecError,
    SpecProblem,
    YamlSyntaxError,
    field_path,
)
from baryon.bundles.inputs import AppliedInputs
from baryon.bundles.schema import TemplateSchema

# A problem's message when a value misses its pattern, for forms that say it in words.
from baryon.bundles.validation_messages import PatternMismatch as PatternMismatch
from baryon.bundles.yaml_source import load_yaml
from baryon.domain.errors import FieldPath, InvalidInput

ENVIRONMENT_SPEC = "EnvironmentSpec"
SERVICE_SPEC = "ServiceSpec"
# A spec value that means "keep what is deployed now" (update operations only).
CURRENT_VALUE = "${Proton::CURRENT_VAL}"
_MAX_SPEC_BYTES = 51_200
# Where spec errors belong: the request's ``spec`` member, whichever part of it is at fault.
SPEC: FieldPath = ("spec",)


@dataclass(frozen=True)
class SpecSource:
    """A spec's text and the YAML mapping it parsed to. ``data`` is shared by every reader of
    the same text and never changed in place: edits work on a copy."""

    text: str
    data: dict[str, Any]

    def with_current_values(self, section: Section, inputs: dict[str, Any]) -> str:
        """The text with the ``${Proton::CURRENT_VAL}`` values of one section replaced by the
        values they resolved to, so that a stored spec says what is deployed. Other text stays
        as given, byte for byte."""
        if CURRENT_VALUE not in self.text:
            return self.text
        values = section(self.data)
        if not isinstance(values, dict):
            return self.text
        resolved = {k: inputs[k] for k, v in values.items() if v == CURRENT_VALUE and k in inputs}
        if not resolved:
            return self.text
        data = copy.deepcopy(self.data)
        changed = section(data)
        assert isinstance(changed, dict)
        changed.update(resolved)
        return dump(data)


@dataclass(frozen=True)
class EnvironmentSpecDocument:
    values: dict[str, Any] | None  # the raw ``spec:`` mapping (None when absent or empty)
    source: SpecSource


@dataclass(frozen=True)
class InstanceSpec:
    name: str
    environment: str
    spec: dict[str, Any] | None
    index: int  # position in `instances`, for messages


@dataclass(frozen=True)
class ServiceSpecDocument:
    pipeline: dict[str, Any] | None
    has_pipeline_key: bool
    instances: list[InstanceSpec]
    source: SpecSource

    def instance(self, name: str) -> InstanceSpec:
        for entry in self.instances:
            if entry.name == name:
                return entry
        raise InvalidInput.at(SPEC, f"the ServiceSpec has no instance named '{name}'.")


def _read(text: str) -> Any:
    """Spec text as YAML: the only parse of a spec (tests count its calls)."""
    try:
        return load_yaml(text, "spec", max_bytes=_MAX_SPEC_BYTES).data
    except BundleError as exc:
        # Not YAML at all, or YAML over a limit (aliases, nesting, size).
        problem = "is not valid YAML" if isinstance(exc, YamlSyntaxError) else "was refused"
        raise InvalidInput(f"The spec {problem}: {exc}", field=SPEC) from exc


def _load(text: str, kind: str) -> dict[str, Any]:
    data = _read(text)
    if not isinstance(data, dict):
        raise InvalidInput.at(SPEC, f"must be a YAML mapping starting with 'proton: {kind}'.")
    if data.get("proton") != kind:
        raise InvalidInput.at(("spec", "proton"), f"must be '{kind}', got {data.get('proton')!r}.")
    return data


def parse_environment_spec(text: str) -> dict[str, Any] | None:
    """The raw ``spec:`` mapping of an EnvironmentSpec (None when absent or empty)."""
    return read_environment_spec(text).values


def read_environment_spec(text: str) -> EnvironmentSpecDocument:
    """An EnvironmentSpec, checked, with what it was read from."""
    data = _load(text, ENVIRONMENT_SPEC)
    unknown = sorted(set(data) - {"proton", "spec"})
    if unknown:
        raise InvalidInput.at(SPEC, f"unknown top-level key(s) {', '.join(unknown)}.")
    values = data.get("spec")
    if values is not None and not isinstance(values, dict):
        raise InvalidInput.at(("spec", "spec"), "must be a mapping of inputs.")
    # The caller may change its values; the source keeps what the text says.
    return EnvironmentSpecDocument(copy.deepcopy(values), SpecSource(text, data))


def parse_service_spec(text: str) -> ServiceSpecDocument:
    """The parsed spec, the caller's own copy to change (its source stays shared)."""
    cached = _parsed_service_spec(text)
    return replace(
        cached,
        pipeline=_copied(cached.pipeline),
        instances=[
            InstanceSpec(entry.name, entry.environment, _copied(entry.spec), entry.index)
            for entry in cached.instances
        ],
    )


def _copied(value: Any) -> Any:
    """A copy of parsed YAML: new mappings and lists, the same immutable scalars (strings,
    numbers, dates: bundles/yaml_source.py refuses the tags that make sets or pairs).
    copy.deepcopy's general machinery (memo, reduce) took 0.85 ms a call on a 100-instance
    spec, and every update of a fleet's instance parses one; this takes 0.15 ms."""
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copied(item) for item in value]
    return value


# A service's instances are all deployed from the service's one spec, so updating a fleet
# parses the same text again and again; parsing a 100-instance spec costs ~15 ms, a copy ~1.
@functools.lru_cache(maxsize=64)
def _parsed_service_spec(text: str) -> ServiceSpecDocument:
    data = _load(text, SERVICE_SPEC)
    unknown = sorted(set(data) - {"proton", "pipeline", "instances"})
    if unknown:
        raise InvalidInput.at(SPEC, f"unknown top-level key(s) {', '.join(unknown)}.")
    pipeline = data.get("pipeline")
    if pipeline is not None and not isinstance(pipeline, dict):
        raise InvalidInput.at(("spec", "pipeline"), "must be a mapping of pipeline inputs.")
    raw_instances = data.get("instances") or []
    if not isinstance(raw_instances, list):
        raise InvalidInput.at(("spec", "instances"), "must be a list.")
    problems: list[str] = []
    instances: list[InstanceSpec] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw_instances):
        where = f"instances[{index}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be a mapping with name, environment and spec")
            continue
        extra = sorted(set(entry) - {"name", "environment", "spec"})
        if extra:
            problems.append(f"{where}: unknown key(s) {', '.join(map(str, extra))}")
        name, environment = entry.get("name"), entry.get("environment")
        if not isinstance(name, str) or not name:
            problems.append(f"{where}.name: is required and must be a string")
            continue
        if name in seen:
            problems.append(f"{where}.name: instance '{name}' is listed twice")
        seen.add(name)
        if not isinstance(environment, str) or not environment:
            problems.append(f"{where}.environment: is required (the name of an environment)")
        spec = entry.get("spec")
        if spec is not None and not isinstance(spec, dict):
            problems.append(f"{where}.spec: must be a mapping of inputs")
            spec = None
        instances.append(InstanceSpec(name, str(environment or ""), spec, index))
    if problems:
        raise InvalidInput("Invalid ServiceSpec: " + "; ".join(problems), field=SPEC)
    # The document's values are copies, so that nothing it hands out aliases its source.
    return ServiceSpecDocument(
        copy.deepcopy(pipeline),
        "pipeline" in data,
        copy.deepcopy(instances),
        SpecSource(text, data),
    )


def apply_inputs(
    schema: TemplateSchema,
    type_name: str | None,
    values: dict[str, Any] | None,
    *,
    where: str,
    current: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The inputs ``values`` give for one input type of ``schema`` (see resolve_inputs)."""
    return resolve_inputs(schema, type_name, values, where=where, current=current).values


def resolve_inputs(
    schema: TemplateSchema,
    type_name: str | None,
    values: dict[str, Any] | None,
    *,
    where: str,
    current: dict[str, Any] | None = None,
) -> AppliedInputs:
    """Validates ``values`` against one input type of ``schema`` and fills its defaults;
    spec keys the schema does not declare are left out and listed in ``ignored``, for the
    deployment to report (Proton accepted them; bundles/inputs.py says why).

    ``current`` holds the deployed inputs that ``${Proton::CURRENT_VAL}`` refers to.
    """
    if type_name is None:
        if values:
            raise InvalidInput(f"{where}: this template version takes no inputs here.", field=SPEC)
        return AppliedInputs({})
    resolved = _substitute_current(values or {}, current or {}, where)
    try:
        return schema.resolve_inputs(type_name, resolved, where=where)
    except SpecError as exc:
        raise InvalidInput(
            f"The spec does not match the template's schema: {exc}", field=SPEC
        ) from exc


def input_problems(
    schema: TemplateSchema, type_name: str, values: Mapping[str, Any]
) -> list[SpecProblem]:
    """Why ``values`` do not fit the input type ``type_name`` (none when they do), each with
    its path inside the inputs (``SpecProblem.path``): the check resolve_inputs runs on a
    submitted spec, as data, for a form that shows each problem beside its input."""
    try:
        schema.apply_inputs(type_name, dict(values), where="")
    except SpecError as exc:
        return list(exc.problems)
    return []


def input_path(parts: Sequence[PathPart]) -> str:
    """A place inside a spec's inputs as the spec's messages write it: ("a", 0, "b") ->
    "a[0].b"."""
    return field_path(parts)


def ignored_input_messages(applied: AppliedInputs) -> list[str]:
    """One deployment event per ignored spec key."""
    return [f"Spec input ignored: {problem}" for problem in applied.ignored]


def _substitute_current(
    values: dict[str, Any], current: dict[str, Any], where: str
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in values.items():
        if value == CURRENT_VALUE:
            if key not in current:
                raise InvalidInput(
                    f"{where}.{key}: {CURRENT_VALUE} needs a current value, but nothing is "
                    "deployed for this input.",
                    field=SPEC,
                )
            result[key] = current[key]
        else:
            result[key] = value
    return result


# --- specs as stored: what was applied, with ${Proton::CURRENT_VAL} resolved ------------------


Section = Callable[[dict[str, Any]], Any]


def environment_section(data: dict[str, Any]) -> Any:
    return data.get("spec")


def pipeline_section(data: dict[str, Any]) -> Any:
    return data.get("pipeline")


def instance_section(name: str) -> Section:
    def section(data: dict[str, Any]) -> Any:
        for entry in data.get("instances") or []:
            if isinstance(entry, dict) and entry.get("name") == name:
                return entry.get("spec")
        return None

    return section


def with_current_values(text: str, section: Section, inputs: dict[str, Any]) -> str:
    """`SpecSource.with_current_values` for a caller holding only text (it parses it)."""
    if CURRENT_VALUE not in text:
        return text
    data = _read(text)
    if not isinstance(data, dict):
        return text
    return SpecSource(text, data).with_current_values(section, inputs)


def dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def edit_service_spec(
    text: str,
    *,
    instance: InstanceSpec | None = None,
    pipeline: dict[str, Any] | None = None,
) -> str:
    """The service's spec with one instance entry added or replaced, or with a new
    ``pipeline:`` section; the text is left alone when nothing changes."""
    data = _read(text) if text else None
    if not isinstance(data, dict):
        data = {"proton": SERVICE_SPEC}
    entries = [e for e in data.get("instances") or [] if isinstance(e, dict)]
    changed = False
    if instance is not None:
        wanted: dict[str, Any] = {"name": instance.name, "environment": instance.environment}
        if instance.spec:
            wanted["spec"] = instance.spec
        names = [e.get("name") for e in entries]
        if instance.name in names:
            position = names.index(instance.name)
            old = entries[position]
            if (old.get("environment"), old.get("spec") or {}) != (
                instance.environment,
                instance.spec or {},
            ):
                entries[position] = wanted
                changed = True
        else:
            entries.append(wanted)
            changed = True
    if pipeline is not None and (data.get("pipeline") or {}) != pipeline:
        data["pipeline"] = pipeline
        changed = True
    if not changed:
        return text
    data["instances"] = entries
    ordered = {k: data[k] for k in ("proton", "pipeline", "instances") if k in data}
    return dump({**ordered, **data})
