"""Proton's ``.proton/deployment-metadata.json`` files in a self-managed provisioning repository.

Proton proposed each self-managed resource as a folder of Terraform in the environment's
provisioning repository, with ``<folder>/.proton/deployment-metadata.json`` saying which
resource and which deployment it is (reference proton-migration.md 6):

    {"deploymentId": "<uuid>", "isResourceDeleted": false,
     "resourceMetadata": {"arn": "...", "templateArn": "...", "templateMajorVersion": "1",
                          "templateMinorVersion": "0", "environmentArn": "... (instances)"}}

(components: ``componentMetadata`` instead). The customer's pipeline reads it to apply the
folder and reports with ``--deployment-id`` from it, so an import links each resource to its
folder and keeps that deployment id. Pure: files in, the folders by resource ARN out; every
file is untrusted, and a bad one is named, never fatal to the others.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

METADATA_FILE = ".proton/deployment-metadata.json"
MAX_METADATA_BYTES = 64 * 1024  # Proton's are a few hundred bytes
MAX_FOLDERS = 10_000


@dataclass(frozen=True)
class ProvisionedFolder:
    """One resource's folder in the repository, as its metadata file describes it."""

    folder: str  # "" for the repository's root
    deployment_id: str
    deleted: bool
    resource_arn: str
    template_arn: str | None
    template_major: str | None
    template_minor: str | None
    environment_arn: str | None

    @property
    def file(self) -> str:
        return f"{self.folder}/{METADATA_FILE}" if self.folder else METADATA_FILE


@dataclass(frozen=True)
class RepositoryFolders:
    """What the repository's metadata files say: the folder of each resource ARN, and what
    could not be read (a file named, and why), or a resource found in two folders."""

    by_arn: Mapping[str, ProvisionedFolder]
    problems: tuple[str, ...]


@dataclass(frozen=True)
class RepositoryReading:
    """A provisioning repository as the import read it: the commit at its branch and its
    folders, or why it could not be read."""

    commit: str | None
    folders: RepositoryFolders | None
    problem: str | None = None


def metadata_paths(paths: list[str]) -> list[str]:
    """The metadata files among a repository's paths."""
    return sorted(p for p in paths if p == METADATA_FILE or p.endswith("/" + METADATA_FILE))


def read_folders(files: Mapping[str, bytes]) -> RepositoryFolders:
    """The resources the metadata files among ``files`` (path -> content) name."""
    found: dict[str, ProvisionedFolder] = {}
    doubled: dict[str, list[str]] = {}
    problems: list[str] = []
    paths = metadata_paths(list(files))
    if len(paths) > MAX_FOLDERS:
        problems.append(f"the repository holds more than {MAX_FOLDERS:,} {METADATA_FILE} files")
        paths = paths[:MAX_FOLDERS]
    for path in paths:
        folder = path[: -len(METADATA_FILE)].rstrip("/")
        try:
            read = _read(folder, files[path])
        except ValueError as exc:
            problems.append(f"{path}: {exc}")
            continue
        if read.resource_arn in found:
            doubled.setdefault(read.resource_arn, [found[read.resource_arn].file]).append(path)
            continue
        found[read.resource_arn] = read
    for arn, where in doubled.items():
        del found[arn]
        problems.append(f"{arn} is named by {len(where)} metadata files: {', '.join(where)}")
    return RepositoryFolders(found, tuple(problems))


def _read(folder: str, data: bytes) -> ProvisionedFolder:
    if len(data) > MAX_METADATA_BYTES:
        raise ValueError(f"larger than {MAX_METADATA_BYTES:,} bytes")
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    deployment_id = _text(document, "deploymentId")
    deleted = document.get("isResourceDeleted", False)
    if not isinstance(deleted, bool):
        raise ValueError("isResourceDeleted: not true or false")
    resource = document.get("resourceMetadata")
    member = "resourceMetadata"
    if resource is None:
        resource, member = document.get("componentMetadata"), "componentMetadata"
    if not isinstance(resource, dict):
        raise ValueError("neither resourceMetadata nor componentMetadata is an object")
    return ProvisionedFolder(
        folder=folder,
        deployment_id=deployment_id,
        deleted=deleted,
        resource_arn=_text(resource, "arn", member),
        template_arn=_optional(resource, "templateArn", member),
        template_major=_optional(resource, "templateMajorVersion", member),
        template_minor=_optional(resource, "templateMinorVersion", member),
        environment_arn=_optional(resource, "environmentArn", member),
    )


def _text(document: Mapping[str, object], key: str, member: str = "") -> str:
    value = document.get(key)
    where = f"{member}.{key}" if member else key
    if not isinstance(value, str) or not value or len(value) > 2048:
        raise ValueError(f"{where}: missing, or not a string of at most 2,048 characters")
    return value


def _optional(document: Mapping[str, object], key: str, member: str) -> str | None:
    return _text(document, key, member) if document.get(key) is not None else None
