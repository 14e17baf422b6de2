"""Every bundle AWS published for Proton registers and publishes on Baryon unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.bundles import Registry, tar_directory


def _bundles(samples: Path) -> tuple[list[Path], list[Path]]:
    environments, services = [], []
    for schema in sorted(samples.rglob("schema/schema.yaml")):
        bundle = schema.parent.parent
        header = yaml.safe_load(schema.read_text())["schema"]
        (environments if "environment_input_type" in header else services).append(bundle)
    return environments, services


def _template_name(bundle: Path) -> str:
    # Bundles live in <template-name>/v<major>/, as template sync expects.
    return bundle.parent.name


def test_every_sample_bundle_registers_and_publishes(samples: Path, proton: Any, s3: Any) -> None:
    registry = Registry(proton, s3)
    environments, services = _bundles(samples)
    assert (len(environments), len(services)) == (6, 17)
    pending: list[tuple[str, str, dict[str, Any]]] = []
    for bundle in environments:
        name = _template_name(bundle)
        registry.ensure_template("environment", name)
        # Alternate the two archive shapes AWS's own instructions produce.
        wrapper = name if len(pending) % 2 else None
        pending.append(
            (
                "environment",
                name,
                registry.register("environment", name, tar_directory(bundle, wrapper), wait=False),
            )
        )
    for bundle in services:
        name = _template_name(bundle)
        compatible = [
            {"templateName": line.split(":")[0], "majorVersion": line.split(":")[1]}
            for line in (bundle / ".compatible-envs").read_text().split()
        ]
        registry.ensure_template("service", name)
        pending.append(
            (
                "service",
                name,
                registry.register(
                    "service",
                    name,
                    tar_directory(bundle),
                    wait=False,
                    compatibleEnvironmentTemplates=compatible,
                ),
            )
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
