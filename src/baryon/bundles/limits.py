"""Size limits applied while reading untrusted bundles.

Proton's published quotas (5 MB bundle, 200 KB per file, 10 files) are tighter than what
AWS's own CodeBuild samples ship (29 files, a 384 KB package-lock.json), so the defaults
are looser; they are settings, filled in by the settings object, never read from the
environment here.
"""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class BundleLimits:
    max_archive_bytes: int = 10 * MIB  # the compressed upload
    max_total_bytes: int = 50 * MIB  # sum of all extracted files
    max_file_bytes: int = 5 * MIB  # any single file
    max_files: int = 1000  # archive members, directories included
    max_manifest_bytes: int = 50 * KIB
    max_schema_bytes: int = 50 * KIB  # Proton's TemplateSchema shape allows 51,200 chars
    max_path_length: int = 512  # characters in a member path
    max_depth: int = 24  # path components in a member path
