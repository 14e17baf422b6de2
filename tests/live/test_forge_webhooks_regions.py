"""Forges' webhooks reach connections in every region one Baryon serves: connections are
regional while the webhook URL names only the connection, so each region that has a
connection of that name checks the delivery with its own secret.
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

HOME, OTHER = "us-east-1", "eu-west-1"
REPOSITORY = "acme/regional-templates"
HOME_SECRET, OTHER_SECRET = "home region's secret", "other region's secret"

# Polling would find the push too, an hour from now: only a webhook can be that fast.
server = own_baryon(
    "forge-webhooks-regions",
    env={
        "BARYON_REGION": HOME,
        "BARYON_REGIONS": f"{HOME}, {OTHER}",
        "BARYON_GIT_POLL_SECONDS": "3600",
    },
)


@pytest.fixture(scope="module")
def forge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestForge]:
    with running_forge(tmp_path_factory.mktemp("forge")) as started:
        started.create_repository(REPOSITORY)
        yield started


def _version(proton: Any, minor: int) -> dict[str, Any] | None:
    try:
        return proton.get_environment_template_version(
            templateName="regional-env", majorVersion="1", minorVersion=str(minor)
        )["environmentTemplateVersion"]
    except ClientError:
        return None


def _hook_url(server: BaryonProcess, name: str) -> str:
    return f"{server.endpoint}/_baryon/git/webhooks/{name}"


def test_a_push_webhook_to_a_connection_of_another_region_syncs_that_regions_template(
    server: BaryonProcess, forge: TestForge
) -> None:
    proton = server.client("proton", region_name=OTHER)
    baryon = server.client("baryon", region_name=OTHER)
    connection = baryon.create_connection(
        name="regional-github",
        provider="GITHUB",
        token=forge.token,
        baseUrl=forge.base_url,
        webhookSecret=OTHER_SECRET,
    )["connection"]
    # The URL users are shown names no region: it is the same in every region.
    assert connection["webhookUrl"].endswith("/_baryon/git/webhooks/regional-github")
    proton.create_repository(name=REPOSITORY, provider="GITHUB", connectionArn=connection["arn"])
    proton.create_environment_template(name="regional-env")
    proton.create_template_sync_config(
        templateName="regional-env",
        templateType="ENVIRONMENT",
        repositoryProvider="GITHUB",
        repositoryName=REPOSITORY,
        branch="main",
    )
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
    bundle = {f"regional-env/v1/{path}": text.encode() for path, text in env_bundle().items()}
    before = forge.branch_head(REPOSITORY, "main")
    after = forge.commit(REPOSITORY, "main", bundle, "regional-env v1")
    hook = _hook_url(server, "regional-github")
    assert forge.deliver_push(hook, OTHER_SECRET, REPOSITORY, "main", before, after).status == 202
    version = eventually(lambda: _version(proton, 0), "version 1.0 from the webhook")
    assert after in version.get("description", ""), version
    # The home region has no such template: the push was the other region's alone.
    with pytest.raises(ClientError):
        server.client("proton", region_name=HOME).get_environment_template(name="regional-env")


def test_the_same_connection_name_in_two_regions_is_checked_with_each_regions_secret(
    server: BaryonProcess, forge: TestForge
) -> None:
    server.client("baryon", region_name=HOME).create_connection(
        name="regional-github",
        provider="GITHUB",
        token=forge.token,
        baseUrl=forge.base_url,
        webhookSecret=HOME_SECRET,
    )
    hook = _hook_url(server, "regional-github")
    head = forge.branch_head(REPOSITORY, "main")
    for secret in (HOME_SECRET, OTHER_SECRET):
        assert forge.deliver_push(hook, secret, REPOSITORY, "main", head, head).status == 202
    assert forge.deliver_push(hook, "nobody's secret", REPOSITORY, "main", head, head).status == 401


def test_a_webhook_to_a_connection_no_region_has_is_not_found(
    server: BaryonProcess, forge: TestForge
) -> None:
    head = forge.branch_head(REPOSITORY, "main")
    delivery = forge.deliver_push(
        _hook_url(server, "nowhere"), OTHER_SECRET, REPOSITORY, "main", head, head
    )
    assert delivery.status == 404
