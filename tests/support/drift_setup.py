"""What the drift tests share: the queue environment template they drift (one SQS queue, its
VisibilityTimeout bound to an input and its MessageRetentionPeriod fixed by the template, so
there is one item of each binding to make), deploying an environment from a bundle, and
waiting for a drift check to end."""

from __future__ import annotations

import time
from typing import Any

from tests.support.bundles import Registry
from tests.support.deploying import outputs, publish_environment_template, settled
from tests.support.processes import BaryonProcess

# A check's statuses once it has ended (queued and running come before).
FINISHED = ("IN_SYNC", "DRIFTED", "FAILED", "SKIPPED")
TIMEOUT_PATH = "/Properties/VisibilityTimeout"
RETENTION_PATH = "/Properties/MessageRetentionPeriod"

QUEUE_SCHEMA = """\
schema:
  format:
    openapi: "3.0.0"
  environment_input_type: "EnvInput"
  types:
    EnvInput:
      type: object
      properties:
        visibility_timeout:
          type: number
          default: 30
"""
QUEUE_CFN = """\
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: {{ environment.inputs.visibility_timeout }}
      MessageRetentionPeriod: 345600
Outputs:
  QueueUrl:
    Value: !Ref Queue
"""
QUEUE_MANIFEST = """\
infrastructure:
  templates:
    - file: "cloudformation.yaml"
      rendering_engine: jinja
      template_language: cloudformation
"""
QUEUE_BUNDLE = {
    "schema/schema.yaml": QUEUE_SCHEMA,
    "infrastructure/manifest.yaml": QUEUE_MANIFEST,
    "infrastructure/cloudformation.yaml": QUEUE_CFN,
}


def deployed_environment(
    server: BaryonProcess, name: str, template: str, files: dict[str, str], role: str, spec: str
) -> dict[str, Any]:
    """Publishes ``files`` as environment template ``template``, creates environment ``name``
    from it and returns the environment once its deployment succeeded."""
    proton = server.client("proton")
    publish_environment_template(Registry(proton, server.client("s3")), template, files)
    proton.create_environment(
        name=name,
        templateName=template,
        templateMajorVersion="1",
        protonServiceRoleArn=role,
        spec=spec,
    )
    view = settled(lambda: proton.get_environment(name=name), "environment")
    assert view["deploymentStatus"] == "SUCCEEDED", server.log_tail()
    return view


def queue_url_of(server: BaryonProcess, environment: str) -> str:
    """The URL of the queue a QUEUE_BUNDLE environment made (its QueueUrl output)."""
    found = server.client("proton").list_environment_outputs(environmentName=environment)
    return outputs(found["outputs"])["QueueUrl"]


def finished_report(
    baryon: Any, environment: str, check_id: str, timeout: float, interval: float = 0.25
) -> dict[str, Any]:
    """The environment's drift report once check ``check_id`` has ended."""
    deadline = time.monotonic() + timeout
    while True:
        report: dict[str, Any] = baryon.get_drift_report(
            resourceType="ENVIRONMENT", environmentName=environment
        )
        last = report.get("lastCheck", {})
        if last.get("checkId") == check_id and last["status"] in FINISHED:
            return report
        assert time.monotonic() < deadline, report
        time.sleep(interval)
