"""Finds where a bundle starts inside an extracted archive or a folder.

AWS's own instructions produce two archive shapes (reference section 2.1): the folders at
the archive root (`tar -czf b.tgz schema infrastructure`) or inside one wrapper folder
(`tar -czf b.tgz environment/`). Both are accepted; anything else is explained.
"""

from __future__ import annotations

import os
from pathlib import Path

from baryon.bundles.errors import BundleError
from baryon.bundles.paths import is_ignored

SCHEMA_FILE = "schema/schema.yaml"
_SHOWN_ENTRIES = 12


def find_bundle_root(root: Path) -> tuple[Path, list[str]]:
    """Return the bundle folder (root itself or its single wrapper) and any warnings."""
    if not root.is_dir():
        raise BundleError(f"bundle folder {root} does not exist")
    if _has_schema(root):
        return root, []
    entries = sorted(
        (entry for entry in os.scandir(root) if not is_ignored(entry.name)),
        key=lambda entry: entry.name,
    )
    folders = [entry for entry in entries if entry.is_dir(follow_symlinks=False)]
    if len(folders) == 1 and _has_schema(Path(folders[0].path)):
        wrapper = folders[0].name
        warnings = [
            f"ignored {entry.name!r} next to the bundle folder {wrapper + '/'!r}"
            for entry in entries
            if entry.name != wrapper
        ]
        return Path(folders[0].path), warnings
    names = [entry.name + ("/" if entry.is_dir(follow_symlinks=False) else "") for entry in entries]
    found = ", ".join(names[:_SHOWN_ENTRIES]) or "nothing"
    if len(names) > _SHOWN_ENTRIES:
        found += f", ... ({len(names)} entries)"
    raise BundleError(
        f"no {SCHEMA_FILE} found at the archive root or under a single top-level folder; "
        f"found: {found}"
    )


def _has_schema(folder: Path) -> bool:
    schema = folder / SCHEMA_FILE
    return schema.is_file() or schema.is_symlink()  # links are refused later, with a reason
