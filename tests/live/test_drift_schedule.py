"""Scheduled drift checks: with ``drift_check_interval`` set, every deployed resource is
checked without anyone asking, as the schedule (``baryon/drift-schedule``)."""

from __future__ import annotations

import time
from typing import Any

from tests.support.bundles import Registry, env_bundle
from tests.support.deploying import env_spec, publish_environment_template, settled
from tests.support.processes import BaryonProcess, own_baryon

ROLE = "arn:aws:iam::123456789012:role/proton-service"

server = own_baryon("drift-schedule", env={"BARYON_DRIFT_CHECK_INTERVAL": "1"})


def test_every_deployed_resource_is_checked_on_the_schedule(server: BaryonProcess) -> None:
    proton, baryon = server.client("proton"), server.client("baryon")
    publish_environment_template(Registry(proton, server.client("s3")), "scheduled", env_bundle())
    proton.create_environment(
        name="nightly",
        templateName="scheduled",
        templateMajorVersion="1",
        protonServiceRoleArn=ROLE,
        spec=env_spec(size="small"),
    )
    view = settled(lambda: proton.get_environment(name="nightly"), "environment")
    assert view["deploymentStatus"] == "SUCCEEDED", server.log_tail()

    deadline = time.monotonic() + 120
    while True:
        report: dict[str, Any] = baryon.get_drift_report(
            resourceType="ENVIRONMENT", environmentName="nightly"
        )
        last = report.get("lastCompletedCheck")
        if last is not None:
            break
        assert time.monotonic() < deadline, (report, server.log_tail())
        time.sleep(0.5)

    assert last["requestedBy"] == "baryon/drift-schedule"
    assert last["status"] == "IN_SYNC"
    assert (last["resourcesChecked"], last["resourcesNotChecked"]) == (1, 0)  # an S3 bucket
