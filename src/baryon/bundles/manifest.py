"""Parses an IaC folder's manifest.yaml: which files to use and how to render them.

Three shapes exist (reference section 2.3): jinja + cloudformation with one file,
hcl + terraform with one file or "*" (every .tf file), and codebuild with shell commands
and no file at all. Anything else is refused with the offending field named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from baryon.bundles import checks
from baryon.bundles.errors import BundleError
from baryon.bundles.limits import BundleLimits
from baryon.bundles.yaml_source import Path, YamlDocument, load_yaml

RenderingEngine = Literal["jinja", "hcl", "codebuild"]
InputType = Literal["JSON", "HCL"]
Scalar = str | int | float | bool

# rendering_engine -> the template_language it requires (codebuild takes none).
_LANGUAGE_FOR_ENGINE = {"jinja": "cloudformation", "hcl": "terraform"}
_TEMPLATE_KEYS = {"file", "rendering_engine", "template_language", "settings", "input_type"}
_SETTINGS_KEYS = {
    "image",
    "runtimes",
    "env",
    "provision",
    "deprovision",
    "project_properties",
    "input_type",
}
_ENV_KEYS = {"variables", "secrets_manager"}
TERRAFORM_WILDCARD = "*"


@dataclass(frozen=True)
class CodeBuildSettings:
    provision: list[str]
    deprovision: list[str]
    image: str | None = None
    runtimes: dict[str, Scalar] = field(default_factory=dict)
    env_variables: dict[str, Scalar] = field(default_factory=dict)
    env_secrets_manager: dict[str, str] = field(default_factory=dict)
    # Merged into the CodeBuild project; may hold Jinja, rendered later like IaC files.
    project_properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IacTemplate:
    rendering_engine: RenderingEngine
    template_language: str | None  # None for codebuild
    file: str | None  # one relative name, "*" (terraform only), or None for codebuild
    settings: CodeBuildSettings | None = None
    input_type: InputType | None = None  # codebuild only: JSON (default) or HCL inputs file
    path: Path = field(default=(), compare=False, repr=False)  # where it sits in the YAML


@dataclass(frozen=True)
class Manifest:
    file: str
    templates: list[IacTemplate]
    doc: YamlDocument = field(compare=False, repr=False)

    def error(self, path: Path, reason: str) -> BundleError:
        return self.doc.error(path, reason)


def parse_manifest(
    text: str,
    file: str,
    *,
    component: bool = False,
    max_bytes: int = BundleLimits.max_manifest_bytes,
) -> Manifest:
    """Parse a manifest; `component=True` applies the stricter rules for components
    (directly-defined components take a single jinja/cloudformation or hcl/terraform file).
    """
    doc = load_yaml(text, file, max_bytes=max_bytes)
    root = checks.mapping(doc, (), doc.data, "a mapping with an 'infrastructure' key")
    checks.no_unknown_keys(doc, (), root, {"infrastructure"}, "top-level key")
    if "infrastructure" not in root:
        raise doc.error((), "missing 'infrastructure'")
    infra = checks.mapping(doc, ("infrastructure",), root["infrastructure"])
    checks.no_unknown_keys(doc, ("infrastructure",), infra, {"templates"}, "key")
    path: Path = ("infrastructure", "templates")
    if "templates" not in infra:
        raise doc.error(("infrastructure",), "missing 'templates'")
    entries = infra["templates"]
    if not isinstance(entries, list) or not entries:
        raise doc.error(path, "must be a list with one template")
    if len(entries) != 1:
        # Proton documents exactly one entry; several files are expressed with "*".
        raise doc.error((*path, 1), f"exactly one template is supported, found {len(entries)}")
    templates = [_template(doc, (*path, 0), entries[0], component)]
    return Manifest(file=file, templates=templates, doc=doc)


def _template(doc: YamlDocument, path: Path, entry: Any, component: bool) -> IacTemplate:
    entry = checks.mapping(doc, path, entry)
    checks.no_unknown_keys(doc, path, entry, _TEMPLATE_KEYS, "template key")
    if "rendering_engine" not in entry:
        raise doc.error(path, "missing 'rendering_engine' (jinja, hcl or codebuild)")
    engine = checks.string(doc, (*path, "rendering_engine"), entry["rendering_engine"])
    if engine == "codebuild" and not component:
        return _codebuild_template(doc, path, entry)
    if engine not in _LANGUAGE_FOR_ENGINE:
        allowed = "jinja or hcl" if component else "jinja, hcl or codebuild"
        what = "for a component " if component else ""
        raise doc.error(
            (*path, "rendering_engine"),
            f"unknown rendering_engine {engine!r} {what}(expected {allowed})",
        )
    language = _LANGUAGE_FOR_ENGINE[engine]
    if "template_language" not in entry:
        raise doc.error(
            path, f"missing 'template_language' (rendering_engine {engine!r} needs {language!r})"
        )
    if entry["template_language"] != language:
        got = entry["template_language"]
        raise doc.error(
            (*path, "template_language"),
            f"rendering_engine {engine!r} needs template_language {language!r}, got {got!r}",
        )
    for key in ("settings", "input_type"):
        if key in entry:
            raise doc.error(
                (*path, key), f"{key!r} is only allowed with rendering_engine codebuild"
            )
    if "file" not in entry:
        raise doc.error(path, "missing 'file'")
    name = _file_name(doc, (*path, "file"), entry["file"])
    if name == TERRAFORM_WILDCARD and (engine != "hcl" or component):
        reason = (
            "components take a single IaC file, not '*'"
            if component
            else "'*' is only allowed with rendering_engine hcl; name one file"
        )
        raise doc.error((*path, "file"), reason)
    return IacTemplate(engine, language, name, path=path)  # type: ignore[arg-type]


def _file_name(doc: YamlDocument, path: Path, value: Any) -> str:
    name = checks.string(doc, path, value)
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or ".." in parts or "" in parts:
        raise doc.error(path, f"{name!r} must be a plain path inside the IaC folder")
    return "/".join(part for part in parts if part != ".") or name


def _codebuild_template(doc: YamlDocument, path: Path, entry: dict[str, Any]) -> IacTemplate:
    for key in ("file", "template_language"):
        if key in entry:
            raise doc.error((*path, key), f"{key!r} is not used with rendering_engine codebuild")
    if "settings" not in entry:
        raise doc.error(path, "rendering_engine codebuild needs 'settings' with 'provision'")
    settings_path = (*path, "settings")
    raw = checks.mapping(doc, settings_path, entry["settings"])
    checks.no_unknown_keys(doc, settings_path, raw, _SETTINGS_KEYS, "codebuild setting")
    if "input_type" in raw and "input_type" in entry:
        raise doc.error((*settings_path, "input_type"), "input_type is given twice")
    input_type = _input_type(doc, path, entry, raw)
    return IacTemplate(
        "codebuild", None, None, _settings(doc, settings_path, raw), input_type, path=path
    )


def _input_type(
    doc: YamlDocument, path: Path, entry: dict[str, Any], raw: dict[str, Any]
) -> InputType:
    # The docs call it "the input_type property of the template's manifest" without showing
    # where; accept it on the template entry or inside settings.
    where = (*path, "input_type") if "input_type" in entry else (*path, "settings", "input_type")
    value = entry.get("input_type", raw.get("input_type", "JSON"))
    if not isinstance(value, str) or value.upper() not in ("JSON", "HCL"):
        raise doc.error(where, f"input_type must be JSON or HCL, got {checks.show(value)}")
    return value.upper()  # type: ignore[return-value]


def _settings(doc: YamlDocument, path: Path, raw: dict[str, Any]) -> CodeBuildSettings:
    if "provision" not in raw:
        raise doc.error(path, "missing 'provision' (the commands that deploy)")
    provision = checks.string_list(doc, (*path, "provision"), raw["provision"])
    if not provision:
        raise doc.error((*path, "provision"), "must list at least one command")
    deprovision = checks.string_list(doc, (*path, "deprovision"), raw.get("deprovision", []))
    image = raw.get("image")
    if image is not None:
        image = checks.string(doc, (*path, "image"), image)
    env = checks.mapping(doc, (*path, "env"), raw.get("env", {}))
    checks.no_unknown_keys(doc, (*path, "env"), env, _ENV_KEYS, "env key")
    return CodeBuildSettings(
        provision=provision,
        deprovision=deprovision,
        image=image,
        runtimes=_scalar_map(doc, (*path, "runtimes"), raw.get("runtimes", {})),
        env_variables=_scalar_map(doc, (*path, "env", "variables"), env.get("variables", {})),
        env_secrets_manager=_string_map(
            doc, (*path, "env", "secrets_manager"), env.get("secrets_manager", {})
        ),
        project_properties=checks.mapping(
            doc, (*path, "project_properties"), raw.get("project_properties", {})
        ),
    )


def _scalar_map(doc: YamlDocument, path: Path, value: Any) -> dict[str, Scalar]:
    result = checks.mapping(doc, path, value)
    for key, item in result.items():
        if not isinstance(key, str):
            raise doc.error((*path, key), f"name {checks.show(key)} must be a string")
        if not isinstance(item, str | int | float | bool):
            raise doc.error((*path, key), f"must be a single value, got {checks.json_type(item)}")
    return result


def _string_map(doc: YamlDocument, path: Path, value: Any) -> dict[str, str]:
    result = _scalar_map(doc, path, value)
    for key, item in result.items():
        if not isinstance(item, str):
            raise doc.error((*path, key), f"must be a string, got {checks.json_type(item)}")
    return result  # type: ignore[return-value]
