"""The portal's own Jinja environment: autoescaped HTML templates shipped in the package.

This is not the sandboxed renderer that runs template bundles (render/); these templates are
the portal's own code, and everything they show is escaped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from baryon.operations.fleet import VersionStatus
from baryon.service_models.proton import (
    DeploymentStatus,
    DeploymentTargetResourceType,
    ServiceStatus,
    TemplateVersionStatus,
)
from baryon.web import forms

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

# Pages show statuses of several kinds (deployments, services, template versions, version
# standing) through one filter; members of different enums with the same name are equal.
_GOOD = frozenset(
    {
        DeploymentStatus.SUCCEEDED,
        DeploymentStatus.DELETE_COMPLETE,
        ServiceStatus.ACTIVE,
        TemplateVersionStatus.PUBLISHED,
        VersionStatus.UP_TO_DATE,
    }
)
_BAD = frozenset(
    {
        DeploymentStatus.FAILED,
        DeploymentStatus.DELETE_FAILED,
        ServiceStatus.CREATE_FAILED,
        ServiceStatus.UPDATE_FAILED,
        ServiceStatus.DELETE_FAILED,
        TemplateVersionStatus.REGISTRATION_FAILED,
        VersionStatus.BEHIND_MAJOR,
    }
)
_BUSY = frozenset(
    {
        DeploymentStatus.IN_PROGRESS,
        DeploymentStatus.DELETE_IN_PROGRESS,
        DeploymentStatus.CANCELLING,
        ServiceStatus.CREATE_IN_PROGRESS,
        ServiceStatus.UPDATE_IN_PROGRESS,
        ServiceStatus.DELETE_IN_PROGRESS,
        TemplateVersionStatus.REGISTRATION_IN_PROGRESS,
    }
)
_WORDS: dict[str, str] = {
    VersionStatus.UP_TO_DATE: "up to date",
    VersionStatus.BEHIND_MINOR: "a minor version behind",
    VersionStatus.BEHIND_MAJOR: "a major version behind",
}


def status_class(status: str | None) -> str:
    if status in _GOOD:
        return "status status-good"
    if status in _BAD:
        return "status status-bad"
    if status in _BUSY:
        return "status status-busy"
    return "status status-neutral"


def status_words(status: str | None) -> str:
    if status is None:
        return "-"
    return _WORDS.get(status, status.replace("_", " ").lower())


def when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).isoformat()


def clock(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).strftime("%H:%M:%S")


def version(major: Any, minor: Any) -> str:
    return f"{major}.{minor}"


def create_jinja() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(
        status_class=status_class,
        status_words=status_words,
        when=when,
        iso=iso,
        clock=clock,
        # An input's value as the developer typed it (tojson would write ' as \u0027).
        shown=forms.display_value,
    )
    # Templates compare what they show with the model's enums, never with bare strings.
    env.globals.update(vnum=version, DeploymentTargetResourceType=DeploymentTargetResourceType)
    return env
