"""A template bundle checked and rendered offline, for ``baryon template validate``,
``render`` and ``publish``: the registration job's own checks (domain/bundle_checks.py) and a
deployment's own spec checks and render (domain/offline_renders.py), with nothing stored,
enqueued or deployed, so the answers are the ones registration and a deployment would give.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from baryon.domain.bundle_checks import (
    BundleRefused,
    CheckedBundle,
    check_minor_compatibility,
    check_template_bundle,
)
from baryon.domain.offline_renders import RenderedResource, RenderFailed, StandIns, render_bundle
from baryon.domain.render_target import RenderKind
from baryon.domain.templates import TemplateKind
from baryon.settings import Settings

__all__ = [
    "BundleRefused",
    "CheckedBundle",
    "RenderFailed",
    "RenderKind",
    "RenderedResource",
    "StandIns",
    "TemplateKind",
    "check_bundle",
    "check_minor_version",
    "render_bundle",
]


def check_bundle(
    data: bytes, kind: TemplateKind, provisioning: str | None, settings: Settings, workdir: Path
) -> CheckedBundle:
    """The bundle as registration would accept it (with the settings' bundle limits);
    BundleRefused with registration's reason. ``data`` is the archive registration would
    read: a packed folder, or an archive as given. ``workdir`` is private scratch space."""
    return check_template_bundle(data, kind, provisioning, settings.bundle_limits, workdir)


def check_minor_version(bundle: CheckedBundle, siblings: Mapping[str, str], major: int) -> None:
    """Registration's check of a new minor version against its registered siblings' schemas
    ("major.minor" -> schema text); BundleRefused when it would ask for new information."""
    check_minor_compatibility(bundle, siblings, major)
