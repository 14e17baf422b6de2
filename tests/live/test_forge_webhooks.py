"""GitHub's webhooks, as the test GitHub sends them (each payload checked against GitHub's
published webhook descriptions before it leaves), reach a live Baryon that polls only once
an hour: what a push sets off happens because the webhook said so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.bundles import env_bundle
from tests.support.processes import BaryonProcess, own_baryon
from tests.support.test_forge import TestForge, running_forge
from tests.support.waiting import eventually

SECRET = "forge webhook secret"
REPOSITORY = "acme/templates"

# Polling would find the push too, an hour from now: only a webhook can be that fast.
server = own_baryon("forge-webhooks", env={"BARYON_GIT_POLL_SECONDS": "3600"})


@pytest.fixture(scope="module")
def forge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestForge]:
    with running_forge(tmp_path_factory.mktemp("forge")) as started:
        started.create_repository(REPOSITORY)
        yield started


def _version(proton: Any, minor: int) -> dict[str, Any] | None:
    try:
        return proton.get_environment_template_version(
            templateName="hooked-env", majorVersion="1", minorVersion=str(minor)
        )["environmentTemplateVersion"]
    except ClientError:
        return None


def test_a_push_webhook_from_github_syncs_the_template_at_once(
    server: BaryonProcess, forge: TestForge
) -> None:
    proton, baryon = server.client("proton"), server.client("baryon")
    connection = baryon.create_connection(
        name="test-github",
        provider="GITHUB",
        token=forge.token,
        baseUrl=forge.base_url,
        webhookSecret=SECRET,
    )["connection"]
    hook_url = server.endpoint + "/_baryon/git/webhooks/test-github"
    assert connection["webhookUrl"].endswith("/_baryon/git/webhooks/test-github")
    forge.add_webhook(REPOSITORY, hook_url, SECRET)
    proton.create_repository(name=REPOSITORY, provider="GITHUB", connectionArn=connection["arn"])
    proton.create_environment_template(name="hooked-env")
    proton.create_template_sync_config(
        templateName="hooked-env",
        templateType="ENVIRONMENT",
        repositoryProvider="GITHUB",
        repositoryName=REPOSITORY,
        branch="main",
    )
    # The config's first sync reads the branch as it is: no template folder yet.
    eventually(
        lambda: (
            proton.get_repository_sync_status(
                repositoryName=REPOSITORY,
                repositoryProvider="GITHUB",
                branch="main",
                syncType="TEMPLATE_SYNC",
            )
            .get("latestSync", {})
            .get("status")
            == "SUCCEEDED"
        ),
        "first sync",
    )
    assert _version(proton, 0) is None
    bundle = {f"hooked-env/v1/{path}": text.encode() for path, text in env_bundle().items()}
    before = forge.branch_head(REPOSITORY, "main")
    after = forge.commit(REPOSITORY, "main", bundle, "hooked-env v1")
    delivery = forge.deliver_push(hook_url, SECRET, REPOSITORY, "main", before, after)
    assert delivery.status == 202
    version = eventually(lambda: _version(proton, 0), "version 1.0 from the webhook")
    assert version["status"] == "DRAFT"
    assert after in version.get("description", ""), version

    changed = dict(bundle)
    changed["hooked-env/v1/infrastructure/cloudformation.yaml"] += b"\n# second revision\n"
    second = forge.commit(REPOSITORY, "main", changed, "hooked-env v1, second revision")
    assert forge.deliver_push(hook_url, SECRET, REPOSITORY, "main", after, second).status == 202
    eventually(lambda: _version(proton, 1), "version 1.1 from the second webhook")


def test_a_push_webhook_signed_with_another_secret_is_refused(
    server: BaryonProcess, forge: TestForge
) -> None:
    head = forge.branch_head(REPOSITORY, "main")
    delivery = forge.deliver_push(
        server.endpoint + "/_baryon/git/webhooks/test-github",
        "not the secret",
        REPOSITORY,
        "main",
        head,
        head,
    )
    assert delivery.status == 401


def test_every_webhook_payload_sent_matched_githubs_description(forge: TestForge) -> None:
    assert forge.deliveries, "no webhook was sent"
    assert not forge.violations
