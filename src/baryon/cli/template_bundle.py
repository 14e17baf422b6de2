"""A bundle as ``baryon template`` commands take it: a folder (packed the way ``publish``
uploads it) or an archive (read as it is), checked with registration's own checks.

A refused bundle is one line naming the bundle, the file, line and field at fault, with the
exit status INVALID_INPUT.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from baryon.bundles.archive import extract_archive, pack_directory
from baryon.bundles.errors import BundleError
from baryon.bundles.layout import SCHEMA_FILE, find_bundle_root
from baryon.bundles.limits import BundleLimits
from baryon.bundles.schema import parse_schema
from baryon.cli.failures import CliFailure, ExitStatus
from baryon.operations.template_bundles import (
    BundleRefused,
    CheckedBundle,
    TemplateKind,
    check_bundle,
)
from baryon.service_models.proton import Provisioning
from baryon.settings import Settings


class BundleKindChoice(StrEnum):
    """How the command line names the kinds (``--kind``)."""

    ENVIRONMENT = "environment"
    SERVICE = "service"

    @property
    def template_kind(self) -> TemplateKind:
        if self is BundleKindChoice.ENVIRONMENT:
            return TemplateKind.ENVIRONMENT
        return TemplateKind.SERVICE


@dataclass(frozen=True)
class BundleInput:
    """What the user pointed at, and the archive registration would read from it."""

    path: Path
    archive: bytes
    # The kind the bundle's own schema declares; None when the schema cannot say.
    declared_kind: BundleKindChoice | None


def read_bundle_input(path: Path, limits: BundleLimits) -> BundleInput:
    """The folder packed as ``publish`` packs it, or the archive's bytes as given."""
    try:
        if path.is_dir():
            return BundleInput(path, pack_directory(path, limits), _declared_kind(path, limits))
        archive = _read_archive(path, limits)
        with tempfile.TemporaryDirectory(prefix="baryon-bundle-") as scratch:
            extract_archive(archive, Path(scratch), limits)
            return BundleInput(path, archive, _declared_kind(Path(scratch), limits))
    except BundleError as exc:
        raise invalid_bundle(path, str(exc)) from exc


def checked_bundle(
    bundle: BundleInput, kind: BundleKindChoice, customer_managed: bool, settings: Settings
) -> CheckedBundle:
    """Registration's checks of the bundle as a template of ``kind`` whose provisioning is
    customer-managed or not; CliFailure(INVALID_INPUT) with registration's reason."""
    provisioning = Provisioning.CUSTOMER_MANAGED if customer_managed else None
    with tempfile.TemporaryDirectory(prefix="baryon-check-") as scratch:
        try:
            return check_bundle(
                bundle.archive, kind.template_kind, provisioning, settings, Path(scratch)
            )
        except BundleRefused as exc:
            raise invalid_bundle(bundle.path, str(exc)) from exc


def invalid_bundle(path: Path, reason: str) -> CliFailure:
    return CliFailure(
        ExitStatus.INVALID_INPUT,
        f"{path}: {one_line(reason)}",
        "fix the bundle and run `baryon template validate` again",
    )


def one_line(text: str) -> str:
    """A message on one line (Jinja's and YAML's reasons may span several)."""
    return " ".join(text.split())


def _read_archive(path: Path, limits: BundleLimits) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(limits.max_archive_bytes + 1)
    except OSError as exc:
        raise BundleError(f"cannot read it: {exc.strerror}") from exc
    if len(data) > limits.max_archive_bytes:
        raise BundleError(
            f"the archive is larger than {limits.max_archive_bytes:,} bytes, the bundle limit"
        )
    return data


def _declared_kind(folder: Path, limits: BundleLimits) -> BundleKindChoice | None:
    """What the schema says the bundle is; None when it cannot be read (the checks then say
    why, in registration's words)."""
    try:
        base, _ = find_bundle_root(folder)
        schema = base / SCHEMA_FILE
        if schema.is_symlink() or schema.stat().st_size > limits.max_schema_bytes:
            return None
        declared = parse_schema(schema.read_text("utf-8-sig"), max_bytes=limits.max_schema_bytes)
    except (BundleError, OSError, UnicodeDecodeError):
        return None
    return BundleKindChoice(declared.kind)
