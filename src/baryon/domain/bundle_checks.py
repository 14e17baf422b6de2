"""The checks a template version's bundle passes to register, in one place for every caller:
the registration job (an upload, a template sync, an import) and ``baryon template validate``
and ``publish``, which run them offline so that a bundle is refused with the same words
before it is uploaded as it would be after.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from baryon.bundles.compat import minor_version_problems
from baryon.bundles.errors import BundleError
from baryon.bundles.limits import BundleLimits
from baryon.bundles.loader import Bundle
from baryon.bundles.schema import parse_schema
from baryon.domain.templates import TemplateKind
from baryon.domain.versions import load_template_bundle
from baryon.render.errors import RenderError
from baryon.render.iac import check_section


class BundleRefused(Exception):
    """Registration refuses the bundle. ``str()`` is the status message registration shows;
    ``file``, ``line`` and ``field`` say where (as far as the check knows)."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.field = field


def check_template_bundle(
    data: bytes,
    kind: TemplateKind,
    provisioning: str | None,
    limits: BundleLimits,
    workdir: Path,
) -> Bundle:
    """The bundle loads (layout, schema, manifests, IaC files, with the rules the template's
    provisioning imposes) and every Jinja template compiles. Raises BundleRefused."""
    try:
        bundle = load_template_bundle(data, kind, provisioning, limits, workdir)
    except BundleError as exc:
        raise BundleRefused(str(exc), file=exc.file, line=exc.line, field=exc.field) from exc
    _check_templates(bundle)
    return bundle


def _check_templates(bundle: Bundle) -> None:
    """Every Jinja template compiles, with the renderer's own sandboxed compiler, so that a
    syntax error fails registration (file, line, Jinja's reason) instead of every deployment;
    the compiled code stays cached for the deployments of this version."""
    for section in (bundle.infrastructure, bundle.instance, bundle.pipeline):
        if section is None:
            continue
        try:
            check_section(section)
        except RenderError as exc:
            raise BundleRefused(
                f"{exc} (the template does not compile)", file=exc.file, line=exc.line
            ) from exc


def check_minor_compatibility(bundle: Bundle, siblings: Mapping[str, str], major: int) -> None:
    """A minor version must accept every spec its siblings accept (no new information).
    ``siblings`` maps "major.minor" to the schema text of each registered minor version."""
    for number, schema_text in siblings.items():
        problems = minor_version_problems(parse_schema(schema_text), bundle.schema)
        if problems:
            raise BundleRefused(
                f"schema/schema.yaml is not backward compatible with version {number} of major "
                f"version {major}: "
                + "; ".join(problems)
                + ". Register it as a new major version instead.",
                file="schema/schema.yaml",
            )


# What a front door holds after the checks pass: the loaded bundle (bundles/loader.py), named
# here so that front doors reach it through operations/ without importing bundles/.
CheckedBundle = Bundle
