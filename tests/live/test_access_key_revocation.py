"""`baryon keys delete` takes effect at once: the very next request signed with the deleted
key is refused, on the embedded server and on every replica of a scaled deployment."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support.cluster import REGION, Cluster, start_cluster
from tests.support.processes import NO_RETRIES, BaryonProcess, clean_environment


def _keys(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "baryon.cli.main", "keys", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _create_key(env: dict[str, str], *data_dir: str) -> tuple[str, str]:
    printed = _keys(env, "create", "--description", "revoked soon", *data_dir)
    values = dict(line.split("=", 1) for line in printed.split())
    return values["AWS_ACCESS_KEY_ID"], values["AWS_SECRET_ACCESS_KEY"]


def _proton(endpoint: str, key: tuple[str, str]) -> Any:
    return boto3.session.Session().client(
        "proton",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        config=NO_RETRIES,
    )


def _assert_refused(proton: Any) -> None:
    with pytest.raises(ClientError) as refused:
        proton.list_environment_templates()
    assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_a_deleted_key_is_refused_by_the_very_next_request(baryon: BaryonProcess) -> None:
    data_dir = ("--data-dir", str(baryon.data_dir))
    env = clean_environment()
    key = _create_key(env, *data_dir)
    proton = _proton(baryon.endpoint, key)
    for _ in range(3):  # used, and recently: whatever a server remembers, it remembers it now
        proton.list_environment_templates()
    assert "deleted" in _keys(env, "delete", key[0], *data_dir)
    _assert_refused(proton)
    # The server's own key still works: only the deleted one stopped.
    baryon.client("proton").list_environment_templates()


@pytest.fixture(scope="module")
def two_servers(
    postgres_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    running = start_cluster(
        tmp_path_factory.mktemp("revocation"),
        postgres_server.create_database(),
        servers=2,
        workers=0,
    )
    yield running
    running.stop()


def test_a_deleted_key_is_refused_at_once_by_every_replica(two_servers: Cluster) -> None:
    key = _create_key(two_servers.env)
    replicas = [_proton(f"http://127.0.0.1:{server.port}", key) for server in two_servers.servers]
    for proton in replicas:
        for _ in range(3):
            proton.list_environment_templates()
    assert "deleted" in _keys(two_servers.env, "delete", key[0])
    for proton in replicas:
        _assert_refused(proton)
    two_servers.client(server=1).list_environment_templates()
