"""A resource's page says "queued" and "waiting for a worker" for a deployment no worker has
claimed, as the deployment page does, and "in progress" once a worker holds its job.

No worker runs here: the job stays queued until the test claims it as a worker would
(store/jobs.claim).
"""

from __future__ import annotations

import re
from datetime import timedelta

from baryon.store import jobs
from tests.web.conftest import ROLE, Portal

PAGE = "/portal/environments/dev"


def _status(page: str) -> str:
    found = re.search(r'<dd id="deployment-status">(.*?)</dd>', page, re.S)
    assert found is not None, page
    return found.group(1)


def test_a_queued_deployment_is_queued_on_the_resource_page_until_a_worker_claims_it(
    signed_in: Portal,
) -> None:
    created = signed_in.post(
        "/portal/new/environment?template=network&version=1.0",
        {
            "mode": "form",
            "name": "dev",
            "description": "",
            "role": ROLE,
            "input-vpc_cidr": "10.0.0.0/16",
            "input-size": "small",
        },
    )
    assert created.status_code == 303, created.text

    for path in (PAGE, f"{PAGE}/live"):
        queued = signed_in.client.get(path).text
        assert ">queued<" in _status(queued) and "Waiting for a worker" in _status(queued)
        assert 'id="waiting-for-worker"' in queued
        assert ">in progress<" not in queued  # neither the status nor the history row

    claimed = jobs.claim(signed_in.runtime.db, "test-worker", timedelta(minutes=5))
    assert claimed is not None
    running = signed_in.client.get(PAGE).text
    assert ">in progress<" in _status(running) and "queued" not in running
    assert 'id="waiting-for-worker"' not in running
