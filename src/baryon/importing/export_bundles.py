"""Which bundle of an export belongs to which template version, and its bytes.

A version's own bundle (an archive or a ``v<M>.<m>/`` folder) wins; a template sync
repository's ``v<M>/`` folder holds what the repository had at the synced commit, which is the
bundle of the newest minor version of M that the export lists. A bundle under
``environment-templates/`` or ``service-templates/`` serves that kind only, one directly under
``bundles/`` either kind.
"""

from __future__ import annotations

from collections.abc import Mapping

from baryon.bundles.errors import BundleError
from baryon.bundles.pack import pack_files
from baryon.importing.errors import ExportError
from baryon.importing.limits import ExportLimits
from baryon.importing.proton_export import BundleForm, BundleSource, ProtonExport, VersionKey
from baryon.service_models.proton import TemplateVersionStatus

_REGISTERED = (TemplateVersionStatus.DRAFT, TemplateVersionStatus.PUBLISHED)


def bundle_for(export: ProtonExport, key: VersionKey) -> BundleSource | None:
    """The bundle of version ``key`` in the export, None when it has none."""
    candidates = [
        source
        for source in export.bundles
        if source.template_name == key.template_name
        and source.major == key.major
        and source.kind in (key.kind, None)
    ]
    exact = [source for source in candidates if source.minor == key.minor]
    if exact:
        # A kind's own folder wins over a shared one (a name used by both kinds).
        return min(exact, key=lambda source: source.kind is None)
    synced = [source for source in candidates if source.form == BundleForm.SYNC_FOLDER]
    if not synced or key.minor != _newest_minor(export, key):
        return None
    return min(synced, key=lambda source: source.kind is None)


def _newest_minor(export: ProtonExport, key: VersionKey) -> int | None:
    minors = [
        version.minor
        for version in export.versions
        if (version.kind, version.template_name, version.major)
        == (key.kind, key.template_name, key.major)
        and version.status in _REGISTERED
    ]
    return max(minors, default=None)


def bundle_archive(files: Mapping[str, bytes], source: BundleSource, limits: ExportLimits) -> bytes:
    """The bundle as an archive that registration reads: the file as it is, or the folder
    packed (deterministically, so the same folder gives the same digest)."""
    if source.form == BundleForm.ARCHIVE:
        data = files[source.path]
        if len(data) > limits.bundle.max_archive_bytes:
            raise ExportError(
                f"is {len(data):,} bytes; a template bundle may be at most "
                f"{limits.bundle.max_archive_bytes:,}",
                file=source.path,
            )
        return data
    prefix = source.path + "/"
    inside = {path[len(prefix) :]: data for path, data in files.items() if path.startswith(prefix)}
    try:
        return pack_files(inside, limits.bundle)
    except BundleError as exc:
        raise ExportError(
            exc.reason, file=f"{prefix}{exc.file}" if exc.file else source.path
        ) from None
