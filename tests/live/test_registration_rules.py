"""Proton's rules for bundles and specs, through boto3 against a real `baryon up`.

A Jinja syntax error fails registration with the file and line; a default that breaks its own
property registers with a warning and deploys as written; the spec in AWS's lambda-multi-svc
README (which names an input the schema does not declare) is accepted, the key reported as a
deployment event; NaN in a spec is a ValidationException naming the field.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.bundles import (
    CFN_MANIFEST,
    ENV_SCHEMA,
    Registry,
    env_bundle,
    tar_directory,
    tar_gz,
)
from tests.support.deploying import (
    FAST,
    REPO,
    env_spec,
    error_message,
    publish_environment_template,
    settled,
    stack,
    stack_outputs,
)
from tests.support.processes import BaryonProcess

SUFFIX = uuid.uuid4().hex[:6]
ROLE = {"protonServiceRoleArn": "arn:aws:iam::123456789012:role/proton"}


def _events(baryon: BaryonProcess, fragment: str) -> list[str]:
    """Messages of deployment events holding ``fragment`` (what the portal's deployment page
    lists); read from the embedded database, which the API does not expose."""
    with sqlite3.connect(f"file:{baryon.data_dir / 'baryon.db'}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT message FROM deployment_events WHERE message LIKE ?", (f"%{fragment}%",)
        ).fetchall()
    return [message for (message,) in rows]


def test_a_jinja_syntax_error_fails_registration_with_file_and_line(proton: Any, s3: Any) -> None:
    registry = Registry(proton, s3)
    name = f"broken-jinja-{SUFFIX}"
    registry.ensure_template("environment", name)
    files = env_bundle()
    files["infrastructure/cloudformation.yaml"] = files[
        "infrastructure/cloudformation.yaml"
    ].replace("{{ environment.name }}", "{{ environment.name }")
    version = registry.register("environment", name, tar_gz(files))
    assert version["status"] == "REGISTRATION_FAILED"
    assert version["statusMessage"] == (
        "infrastructure/cloudformation.yaml line 6: unexpected '}' (the template does not compile)"
    )


MISMATCHED_SCHEMA = (
    ENV_SCHEMA
    + """\
        public:
          type: boolean
          default: public
"""
)
MISMATCHED_CFN = """\
Resources:
  Topic:
    Type: AWS::SNS::Topic
Outputs:
  Public:
    Value: '{{ environment.inputs.public }}'
"""


def test_a_boolean_default_written_as_a_word_registers_with_a_warning_and_deploys(
    baryon: BaryonProcess, proton: Any, s3: Any
) -> None:
    registry = Registry(proton, s3)
    name = f"word-default-{SUFFIX}"
    registry.ensure_template("environment", name)
    files = {
        "schema/schema.yaml": MISMATCHED_SCHEMA,
        "infrastructure/manifest.yaml": CFN_MANIFEST,
        "infrastructure/cloudformation.yaml": MISMATCHED_CFN,
    }
    version = registry.register("environment", name, tar_gz(files))
    assert version["status"] == "DRAFT"
    assert version["statusMessage"].startswith(
        "schema/schema.yaml line 20 (schema.types.EnvInput.properties.public.default): "
        "default must be a boolean, got string 'public'"
    )
    registry.publish("environment", name, version)
    environment = f"word{SUFFIX}"
    proton.create_environment(
        name=environment, templateName=name, templateMajorVersion="1", spec=env_spec(), **ROLE
    )
    proton.get_waiter("environment_deployed").wait(name=environment, WaiterConfig=FAST)
    cloudformation = baryon.client("cloudformation")
    deployed = stack(cloudformation, "environment", environment)
    assert deployed is not None
    assert stack_outputs(deployed)["Public"] == "public"  # Proton passed the default through
    with pytest.raises(proton.exceptions.ValidationException) as caught:
        proton.update_environment(
            name=environment, deploymentType="CURRENT_VERSION", spec=env_spec(public="public")
        )
    assert "spec.public: must be a boolean, got string 'public'" in error_message(caught)


def test_the_lambda_multi_svc_readme_spec_is_accepted_and_the_unknown_key_reported(
    baryon: BaryonProcess, proton: Any, s3: Any, samples: Path
) -> None:
    registry = Registry(proton, s3)
    folder = samples / "lambda-multi-svc"
    env_template, svc_template = f"multi-svc-env-{SUFFIX}", f"crud-api-service-{SUFFIX}"
    registry.ensure_template("environment", env_template)
    version = registry.register(
        "environment", env_template, tar_directory(folder / "lambda-env/v1")
    )
    assert version["status"] == "DRAFT", version.get("statusMessage")
    registry.publish("environment", env_template, version)
    registry.ensure_template("service", svc_template)
    version = registry.register(
        "service",
        svc_template,
        tar_directory(folder / "service-crud/v1"),
        compatibleEnvironmentTemplates=[{"templateName": env_template, "majorVersion": "1"}],
    )
    assert version["status"] == "DRAFT", version.get("statusMessage")
    registry.publish("service", svc_template, version)

    environment = f"multi-svc-beta-{SUFFIX}"
    proton.create_environment(
        name=environment,
        templateName=env_template,
        templateMajorVersion="1",
        spec=(folder / "specs/env-spec.yaml").read_text(),
        **ROLE,
    )
    proton.get_waiter("environment_deployed").wait(name=environment, WaiterConfig=FAST)
    # The README's spec as written, pointed at this test's environment.
    spec = (folder / "specs/svc-spec.yaml").read_text()
    assert "packaging_commands: make publish" in spec
    service = f"crud-{SUFFIX}"
    proton.create_service(
        name=service,
        templateName=svc_template,
        templateMajorVersion="1",
        spec=spec.replace('"multi-svc-beta"', f'"{environment}"'),
        **REPO,
    )
    created = proton.get_service(name=service)["service"]
    assert "packaging_commands" in created["spec"]  # kept as the developer wrote it
    settled(lambda: proton.get_service(name=service)["service"], "pipeline", timeout=180)
    messages = [m for m in _events(baryon, "packaging_commands") if "packaging_commands" in m]
    assert (
        "Spec input ignored: pipeline.packaging_commands: unknown input 'packaging_commands'; "
        "did you mean 'packaging_command'?; it is ignored"
    ) in messages


def test_a_nan_spec_is_a_validation_exception_naming_the_field(proton: Any, s3: Any) -> None:
    # NaN passes `minimum` and `maximum` (every comparison with it is false) and is a number.
    registry = Registry(proton, s3)
    name = f"nan-env-{SUFFIX}"
    files = env_bundle()
    files["schema/schema.yaml"] += (
        "        count:\n          type: number\n          minimum: 1\n          maximum: 10\n"
    )
    publish_environment_template(registry, name, files)
    environment = f"nan{SUFFIX}"
    with pytest.raises(proton.exceptions.ValidationException) as caught:
        proton.create_environment(
            name=environment,
            templateName=name,
            templateMajorVersion="1",
            spec="proton: EnvironmentSpec\nspec:\n  count: .nan\n",
            **ROLE,
        )
    assert "spec.count: must be a finite number, got nan" in error_message(caught)
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.get_environment(name=environment)
