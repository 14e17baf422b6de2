"""Every bundle AWS published for Proton registers and publishes on Baryon unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.bundles import Registry, tar_directory
from tests.support.samples import sample_bundles


def test_every_sample_bundle_registers_and_publishes(samples: Path, proton: Any, s3: Any) -> None:
    registry = Registry(proton, s3)
    bundles = sample_bundles()
    kinds = [bundle.kind for bundle in bundles]
    assert (kinds.count("environment"), kinds.count("service")) == (6, 17)
    pending: list[tuple[str, str, dict[str, Any]]] = []
    for bundle in bundles:
        name, extra = bundle.template, {}
        registry.ensure_template(bundle.kind, name)
        if bundle.kind == "environment":
            # Alternate the two archive shapes AWS's own instructions produce.
            wrapper = name if len(pending) % 2 else None
        else:
            wrapper = None
            extra["compatibleEnvironmentTemplates"] = [
                {"templateName": template, "majorVersion": major}
                for template, major in bundle.compatible_environments
            ]
        archive = tar_directory(bundle.path, wrapper)
        pending.append(
            (bundle.kind, name, registry.register(bundle.kind, name, archive, wait=False, **extra))
        )
    for kind, name, version in pending:
        final = registry.wait(kind, name, version, timeout=120)
        assert final["status"] == "DRAFT", f"{kind} {name}: {final.get('statusMessage')}"
        published = registry.publish(kind, name, final)
        assert published["status"] == "PUBLISHED"
        template = getattr(proton, f"get_{kind}_template")(name=name)[f"{kind}Template"]
        assert template["recommendedVersion"] == f"{final['majorVersion']}.{final['minorVersion']}"


def test_sample_with_dangling_compatible_environment_is_refused(
    samples: Path, proton: Any, s3: Any
) -> None:
    registry = Registry(proton, s3)
    bundle = samples / "service-templates" / "apprunner-svc" / "v1"
    registry.ensure_template("service", "apprunner-orphan")
    with pytest.raises(proton.exceptions.ValidationException, match="no-such-env"):
        proton.create_service_template_version(
            templateName="apprunner-orphan",
            source=registry.upload(tar_directory(bundle)),
            compatibleEnvironmentTemplates=[{"templateName": "no-such-env", "majorVersion": "1"}],
        )
