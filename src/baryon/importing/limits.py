"""Size limits for reading an export directory: every file in it is untrusted input.

An export holds one small JSON file per Proton call and the bundles beside them, so the limits
are those of many bundles together; a single JSON file is bounded by what Proton could answer
(a spec is at most 51,200 characters, a list of provisioned resources a few thousand rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from baryon.bundles.limits import KIB, MIB, BundleLimits


@dataclass(frozen=True)
class ExportLimits:
    max_archive_bytes: int = 200 * MIB  # the packed export the CLI uploads
    max_total_bytes: int = 500 * MIB  # every file of the export together
    max_files: int = 50_000
    max_json_bytes: int = 4 * MIB  # one Proton answer
    max_json_depth: int = 64  # Proton's shapes nest a few levels; more is hostile
    max_path_length: int = 1024
    max_depth: int = 32
    # The account: Proton stacks read, and the rows of each one's resources.
    max_stacks: int = 20_000
    max_stack_resources: int = 5_000
    max_template_bytes: int = 1 * MIB  # CloudFormation's own template limit
    bundle: BundleLimits = field(default_factory=BundleLimits)

    def tree(self) -> BundleLimits:
        """The limits for reading (or extracting) the whole directory as one tree."""
        return BundleLimits(
            max_archive_bytes=self.max_archive_bytes,
            max_total_bytes=self.max_total_bytes,
            max_file_bytes=max(self.bundle.max_archive_bytes, self.max_json_bytes),
            max_files=self.max_files,
            max_manifest_bytes=self.bundle.max_manifest_bytes,
            max_schema_bytes=self.bundle.max_schema_bytes,
            max_path_length=self.max_path_length,
            max_depth=self.max_depth,
        )


DEFAULT_LIMITS = ExportLimits()
__all__ = ["DEFAULT_LIMITS", "KIB", "ExportLimits"]
