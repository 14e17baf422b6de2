"""Loads and checks a whole template bundle: layout, schema, manifests, IaC files.

This is the single gate every template version passes (uploads, `baryon template publish`,
template sync), so a bundle that loads here is one the renderer and provisioners can use
without re-checking anything.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from baryon.bundles.archive import extract_archive
from baryon.bundles.errors import BundleError
from baryon.bundles.layout import SCHEMA_FILE, find_bundle_root
from baryon.bundles.limits import BundleLimits
from baryon.bundles.manifest import TERRAFORM_WILDCARD, Manifest, parse_manifest
from baryon.bundles.registration import (
    LEGACY_FILE,
    REGISTRATION_FILE,
    Registration,
    read_registration,
)
from baryon.bundles.schema import TemplateSchema, check_customer_managed, parse_schema
from baryon.bundles.tree import read_file, read_tree

BundleKind = Literal["environment", "service"]
ENVIRONMENT_FOLDER = "infrastructure"
INSTANCE_FOLDER = "instance_infrastructure"
PIPELINE_FOLDER = "pipeline_infrastructure"
_FOLDERS_OF = {
    "environment": {ENVIRONMENT_FOLDER},
    "service": {INSTANCE_FOLDER, PIPELINE_FOLDER},
}


@dataclass(frozen=True)
class IacSection:
    """One IaC folder: its manifest and the text of the files the manifest selects."""

    folder: str  # "infrastructure", "instance_infrastructure" or "pipeline_infrastructure"
    manifest: Manifest
    files: dict[str, str]  # path relative to `folder` -> text (codebuild: every text file)


@dataclass(frozen=True)
class Bundle:
    kind: BundleKind
    schema: TemplateSchema
    infrastructure: IacSection | None  # environment bundles (None when customer-managed)
    instance: IacSection | None  # service bundles
    pipeline: IacSection | None  # service bundles with a Proton-managed pipeline
    files: dict[str, bytes]  # every file, relative to the bundle root (wrapper stripped)
    compatible_environments: list[tuple[str, str]] | None
    supported_component_sources: list[str] | None
    digest: str  # sha256 of the content; equal digests mean identical bundles
    warnings: list[str] = field(default_factory=list)


def load_bundle(
    root: Path,
    kind: BundleKind,
    *,
    customer_managed: bool = False,
    pipeline_provisioning_customer_managed: bool = False,
    limits: BundleLimits,
) -> Bundle:
    """Load the bundle in folder `root` (bundle at the root or under one wrapper folder).

    `customer_managed`: environment template with provisioning CUSTOMER_MANAGED (schema only).
    `pipeline_provisioning_customer_managed`: service template without a Proton pipeline.
    """
    if customer_managed and kind != "environment":
        raise BundleError("customer_managed applies to environment templates only")
    if pipeline_provisioning_customer_managed and kind != "service":
        raise BundleError("pipeline_provisioning_customer_managed applies to service templates")
    base, warnings = find_bundle_root(root)
    files = read_tree(base, limits)
    schema = parse_schema(
        _text(files, SCHEMA_FILE, "utf-8-sig"), SCHEMA_FILE, max_bytes=limits.max_schema_bytes
    )
    warnings.extend(schema.warnings)
    folders = {path.split("/", 1)[0] for path in files if "/" in path}
    _check_kind(schema, kind, folders)
    warnings.extend(
        f"unexpected folder {folder + '/'!r} is kept in the bundle but not used"
        for folder in sorted(folders - _FOLDERS_OF[kind] - {"schema"})
    )
    registration = read_registration(files, limits.max_manifest_bytes)
    warnings.extend(registration.warnings)
    infrastructure = instance = pipeline = None
    environments = registration.compatible_environments
    sources = registration.supported_component_sources
    if kind == "environment":
        infrastructure = _environment_section(schema, files, folders, customer_managed, limits)
        if environments is not None or sources is not None:
            warnings.append("registration files only apply to service templates; ignored")
            environments = sources = None
    else:
        instance = _section(files, INSTANCE_FOLDER, limits)
        pipeline = _pipeline_section(
            schema, files, folders, pipeline_provisioning_customer_managed, limits
        )
    return Bundle(
        kind=kind,
        schema=schema,
        infrastructure=infrastructure,
        instance=instance,
        pipeline=pipeline,
        files=files,
        compatible_environments=environments,
        supported_component_sources=sources,
        digest=content_digest(files),
        warnings=warnings,
    )


def load_bundle_bytes(
    data: bytes,
    kind: BundleKind,
    *,
    customer_managed: bool = False,
    pipeline_provisioning_customer_managed: bool = False,
    limits: BundleLimits,
    workdir: Path,
) -> Bundle:
    """Extract an uploaded archive into a private temporary folder and load it."""
    workdir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="bundle-", dir=workdir))  # mode 0o700
    try:
        extract_archive(data, scratch, limits)
        return load_bundle(
            scratch,
            kind,
            customer_managed=customer_managed,
            pipeline_provisioning_customer_managed=pipeline_provisioning_customer_managed,
            limits=limits,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def read_registration_file(root: Path, limits: BundleLimits | None = None) -> Registration:
    """Only the registration metadata (compatible environments, component sources) of the
    bundle folder `root`, without loading the rest; `baryon template publish` uses it to
    default the compatible environments of a service template version."""
    limits = limits or BundleLimits()
    base, _ = find_bundle_root(root)
    files = {
        name: read_file(base / name, name, limits.max_manifest_bytes + 1)
        for name in (REGISTRATION_FILE, LEGACY_FILE)
        if (base / name).is_file() or (base / name).is_symlink()
    }
    return read_registration(files, limits.max_manifest_bytes)


def content_digest(files: dict[str, bytes]) -> str:
    """sha256 over sorted (path, content) pairs; lengths are included so that no two
    different file sets can produce the same byte stream."""
    digest = hashlib.sha256()
    for path in sorted(files):
        name = path.encode("utf-8")
        content = files[path]
        digest.update(len(name).to_bytes(8, "big") + name)
        digest.update(len(content).to_bytes(8, "big") + content)
    return digest.hexdigest()


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _text(files: dict[str, bytes], path: str, encoding: str = "utf-8") -> str:
    try:
        return files[path].decode(encoding)
    except UnicodeDecodeError as exc:
        raise BundleError(
            f"is not UTF-8 text ({exc.reason} at byte {exc.start})", file=path
        ) from None


def _check_kind(schema: TemplateSchema, kind: BundleKind, folders: set[str]) -> None:
    if schema.kind != kind:
        key = f"{schema.kind}_input_type"
        raise schema.error(
            ("schema", key),
            f"this is {_a(schema.kind)} template bundle (the schema declares {key}), "
            f"but it is being registered as {_a(kind)} template",
        )
    other = "service" if kind == "environment" else "environment"
    misplaced = sorted(folders & _FOLDERS_OF[other])
    if misplaced:
        folder = misplaced[0]
        raise BundleError(
            f"{folder}/ belongs in {other} template bundles; {_a(kind)} bundle cannot contain it",
            file=f"{folder}/",
        )


def _a(kind: str) -> str:
    return f"an {kind}" if kind == "environment" else f"a {kind}"


def _section(files: dict[str, bytes], folder: str, limits: BundleLimits) -> IacSection:
    manifest_path = f"{folder}/manifest.yaml"
    if manifest_path not in files:
        raise BundleError(f"not found; {folder}/ needs a manifest.yaml", file=manifest_path)
    manifest = parse_manifest(
        _text(files, manifest_path, "utf-8-sig"),
        manifest_path,
        max_bytes=limits.max_manifest_bytes,
    )
    template = manifest.templates[0]
    prefix = f"{folder}/"
    if template.file == TERRAFORM_WILDCARD:
        names = [
            path[len(prefix) :]
            for path in files
            if path.startswith(prefix) and "/" not in path[len(prefix) :] and path.endswith(".tf")
        ]
        if not names:
            raise manifest.error((*template.path, "file"), f"'*' matches no .tf file in {prefix}")
    elif template.file is not None:
        if prefix + template.file not in files:
            raise manifest.error(
                (*template.path, "file"),
                f"names {template.file!r}, which does not exist in {prefix}",
            )
        names = [template.file]
    else:
        # codebuild: the commands use whatever the folder holds (scripts, CDK apps, ...), so
        # every text file of it goes to the work directory; a file that is not UTF-8 text
        # cannot travel in a section's text files and stays behind.
        names = [
            path[len(prefix) :]
            for path, data in files.items()
            if path.startswith(prefix) and _is_utf8(data)
        ]
    texts = {name: _text(files, prefix + name) for name in sorted(names)}
    return IacSection(folder=folder, manifest=manifest, files=texts)


def _environment_section(
    schema: TemplateSchema,
    files: dict[str, bytes],
    folders: set[str],
    customer_managed: bool,
    limits: BundleLimits,
) -> IacSection | None:
    if not customer_managed:
        if ENVIRONMENT_FOLDER not in folders:
            raise BundleError(
                f"an environment bundle needs {ENVIRONMENT_FOLDER}/ with a manifest.yaml "
                "(or register the template as customer-managed)",
                file=f"{ENVIRONMENT_FOLDER}/",
            )
        return _section(files, ENVIRONMENT_FOLDER, limits)
    if ENVIRONMENT_FOLDER in folders:
        # Proton rejects these too: the infrastructure is provisioned outside the platform.
        raise BundleError(
            "a customer-managed environment bundle holds only schema/; remove infrastructure/",
            file=f"{ENVIRONMENT_FOLDER}/",
        )
    check_customer_managed(schema)
    return None


def _pipeline_section(
    schema: TemplateSchema,
    files: dict[str, bytes],
    folders: set[str],
    customer_managed: bool,
    limits: BundleLimits,
) -> IacSection | None:
    has_folder = PIPELINE_FOLDER in folders
    has_type = schema.pipeline_input_type is not None
    if has_folder and not has_type:
        raise schema.error(
            ("schema",),
            f"the bundle has {PIPELINE_FOLDER}/ but the schema declares no pipeline_input_type",
        )
    if has_type and not has_folder:
        raise schema.error(
            ("schema", "pipeline_input_type"),
            f"pipeline_input_type {schema.pipeline_input_type!r} is declared but the bundle "
            f"has no {PIPELINE_FOLDER}/",
        )
    if customer_managed and has_type:
        raise schema.error(
            ("schema", "pipeline_input_type"),
            "the template's pipeline is customer-managed (pipelineProvisioning "
            f"CUSTOMER_MANAGED), so remove pipeline_input_type and {PIPELINE_FOLDER}/",
        )
    if not customer_managed and not has_type:
        raise schema.error(
            ("schema",),
            f"the bundle defines no pipeline (no pipeline_input_type, no {PIPELINE_FOLDER}/); "
            "add one or register the template with pipelineProvisioning CUSTOMER_MANAGED",
        )
    return _section(files, PIPELINE_FOLDER, limits) if has_folder else None
