"""Bounds on what a remote repository, or a client pushing to a hosted one, may cost.

Proton capped a linked repository at 250 MB; the per-file and per-listing limits are looser
than a bundle's (bundles/limits.py) because a repository may hold many templates, each of
which is checked as a bundle when it is loaded. They are constructor arguments, never read
from the environment here.
"""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class GitLimits:
    max_pack_bytes: int = 250 * MIB  # one fetched pack, or one pushed request body (hosting)
    max_branches: int = 10_000  # branches a remote may advertise
    max_files: int = 10_000  # files one files_at or changed_paths may return
    max_file_bytes: int = 10 * MIB  # any single file read or written
    max_total_bytes: int = 100 * MIB  # all files one files_at returns, held in memory at once
    max_path_depth: int = 32  # folders in a path, so that no tree is walked forever
    max_path_length: int = 1024  # characters in a path
    timeout_seconds: float = 120.0  # a server's silence (connecting, each read) before giving up
    request_idle_seconds: float = 30.0  # hosting: a request body may pause this long at most
