"""Template bundles: read, check and pack Proton-format bundles.

Everything that can go wrong raises BundleError (SpecError for spec values), naming the
file, line and field at fault.
"""

from baryon.bundles.archive import extract_archive, pack_directory
from baryon.bundles.compat import minor_version_problems
from baryon.bundles.errors import BundleError, SpecError, SpecProblem
from baryon.bundles.limits import BundleLimits
from baryon.bundles.loader import (
    Bundle,
    BundleKind,
    IacSection,
    content_digest,
    load_bundle,
    load_bundle_bytes,
    read_registration_file,
)
from baryon.bundles.manifest import CodeBuildSettings, IacTemplate, Manifest, parse_manifest
from baryon.bundles.registration import Registration
from baryon.bundles.schema import TemplateSchema, check_customer_managed, parse_schema

__all__ = [
    "Bundle",
    "BundleError",
    "BundleKind",
    "BundleLimits",
    "CodeBuildSettings",
    "IacSection",
    "IacTemplate",
    "Manifest",
    "Registration",
    "SpecError",
    "SpecProblem",
    "TemplateSchema",
    "check_customer_managed",
    "content_digest",
    "extract_archive",
    "load_bundle",
    "load_bundle_bytes",
    "minor_version_problems",
    "pack_directory",
    "parse_manifest",
    "parse_schema",
    "read_registration_file",
]
