"""A bundle whose template CloudFormation would refuse fails its deployment at once, with
AWS's own template error naming what is wrong, never after retries or a timeout.

The corpus is tests/support/invalid_templates.py; each case is an environment bundle whose
template is that invalid template. Run with ``-rP`` to see how long each deployment took.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.support.bundles import Registry, env_bundle
from tests.support.deploying import env_spec, publish_environment_template, settled
from tests.support.invalid_templates import INVALID
from tests.support.processes import BaryonProcess, own_baryon

ROLE = "arn:aws:iam::123456789012:role/proton-service"
# Templates given as data: a text case (YAML not well-formed) is Baryon's own bundle check's
# to refuse, at registration, before any cloud sees it.
CASES = sorted(case for case, (template, _) in INVALID.items() if isinstance(template, dict))

server = own_baryon("invalid-templates", env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.2"})


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    return server.client("proton")


def test_each_invalid_template_fails_its_deployment_with_aws_text(
    server: BaryonProcess, proton: Any
) -> None:
    registry = Registry(proton, server.client("s3"))
    started: dict[str, float] = {}
    for case in CASES:
        name = f"bad-{case.replace('_', '-')}"
        files = env_bundle()
        files["infrastructure/cloudformation.yaml"] = json.dumps(INVALID[case][0])
        publish_environment_template(registry, name, files)
        proton.create_environment(
            name=name,
            templateName=name,
            templateMajorVersion="1",
            protonServiceRoleArn=ROLE,
            spec=env_spec(),
        )
        started[case] = time.monotonic()
    took: dict[str, float] = {}
    for case in CASES:
        name = f"bad-{case.replace('_', '-')}"
        environment = settled(lambda n=name: proton.get_environment(name=n), "environment")
        took[case] = time.monotonic() - started[case]
        message = environment.get("deploymentStatusMessage", "")
        assert (case, environment["deploymentStatus"]) == (case, "FAILED")
        assert INVALID[case][1] in message, (case, message)
    print("seconds from create-environment to FAILED:")
    for case, seconds in sorted(took.items(), key=lambda item: item[1]):
        print(f"  {seconds:5.1f}  {case}")
