"""Reads a service bundle's registration metadata for template sync.

`.template-registration.yaml` (compatible_environments, supported_component_sources) is the
current format; `.compatible-envs` (one "name:major" per line) is the legacy one that every
public CloudFormation and Terraform sample still uses. Two published AWS samples misspell
the key as `compatible_environment`; it is accepted with a warning because those samples
were meant to work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from baryon.bundles import checks
from baryon.bundles.errors import BundleError
from baryon.bundles.yaml_source import YamlDocument, load_yaml
from baryon.service_models.proton import ServiceTemplateSupportedComponentSourceType

REGISTRATION_FILE = ".template-registration.yaml"
LEGACY_FILE = ".compatible-envs"
COMPONENT_SOURCES = frozenset(ServiceTemplateSupportedComponentSourceType)
_TYPO_KEY = "compatible_environment"
_KNOWN_KEYS = {"compatible_environments", "supported_component_sources", _TYPO_KEY}
# Proton's ResourceName and TemplateVersionPart shapes.
_ENVIRONMENT_REF = re.compile(r"^([0-9A-Za-z][0-9A-Za-z_\-]{0,99}):(0|[1-9][0-9]*)$")


@dataclass(frozen=True)
class Registration:
    compatible_environments: list[tuple[str, str]] | None = None
    supported_component_sources: list[str] | None = None
    warnings: list[str] = field(default_factory=list)


def read_registration(files: dict[str, bytes], max_bytes: int) -> Registration:
    """Registration data from the bundle's files (paths relative to the bundle root)."""
    if REGISTRATION_FILE in files:
        registration = _parse_yaml(_text(files, REGISTRATION_FILE), max_bytes)
        if LEGACY_FILE in files:
            registration.warnings.append(
                f"{LEGACY_FILE} is ignored because {REGISTRATION_FILE} is present"
            )
        return registration
    if LEGACY_FILE in files:
        return Registration(compatible_environments=_parse_legacy(_text(files, LEGACY_FILE)))
    return Registration()


def _text(files: dict[str, bytes], name: str) -> str:
    try:
        return files[name].decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BundleError(f"is not UTF-8 text ({exc.reason})", file=name) from None


def _parse_yaml(text: str, max_bytes: int) -> Registration:
    doc = load_yaml(text, REGISTRATION_FILE, max_bytes=max_bytes)
    data = {} if doc.data is None else checks.mapping(doc, (), doc.data)
    warnings = [
        str(doc.error((key,), f"unknown key {key!r} is ignored"))
        for key in data
        if key not in _KNOWN_KEYS
    ]
    key = "compatible_environments"
    if _TYPO_KEY in data:
        if key in data:
            raise doc.error((_TYPO_KEY,), f"use either {key!r} or {_TYPO_KEY!r}, not both")
        key = _TYPO_KEY
        reason = f"{_TYPO_KEY!r} is read as 'compatible_environments'; please fix the spelling"
        warnings.append(str(doc.error((key,), reason)))
    environments = None
    if key in data:
        environments = [
            _environment(doc, (key, index), entry)
            for index, entry in enumerate(checks.string_list(doc, (key,), data[key]))
        ]
    sources = None
    if "supported_component_sources" in data:
        path = ("supported_component_sources",)
        sources = checks.string_list(doc, path, data["supported_component_sources"])
        for index, source in enumerate(sources):
            if source not in COMPONENT_SOURCES:
                raise doc.error(
                    (*path, index),
                    f"unknown component source {source!r}; expected DIRECTLY_DEFINED",
                )
    return Registration(environments, sources, warnings)


def _environment(doc: YamlDocument, path: tuple[Any, ...], entry: str) -> tuple[str, str]:
    match = _ENVIRONMENT_REF.match(entry.strip())
    if match is None:
        raise doc.error(path, f"{entry!r} must look like 'template-name:major-version'")
    return match.group(1), match.group(2)


def _parse_legacy(text: str) -> list[tuple[str, str]]:
    environments = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _ENVIRONMENT_REF.match(line)
        if match is None:
            raise BundleError(
                f"{line!r} must look like 'template-name:major-version'",
                file=LEGACY_FILE,
                line=number,
            )
        environments.append((match.group(1), match.group(2)))
    return environments
