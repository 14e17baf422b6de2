"""Rotating the master key of a scaled Baryon as docs/operations.md says: a new key printed,
every replica restarted with both keys (what the old key sealed still opens), every value
sealed again, the previous key dropped; a client's access key works at every step, and a
replica left with only the old key can no longer open it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.cluster import Cluster, start_cluster


@pytest.fixture
def cluster(postgres_server: Any, tmp_path: Path) -> Iterator[Cluster]:
    running = start_cluster(tmp_path, postgres_server.create_database(), servers=1, workers=0)
    try:
        yield running
    finally:
        running.stop()


def _rotate(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "baryon.cli.main", "keys", "rotate-master", "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _restart_server(cluster: Cluster, **changes: str | None) -> None:
    for name, value in changes.items():
        if value is None:
            cluster.env.pop(name, None)
        else:
            cluster.env[name] = value
    for server in cluster.servers:
        server.kill(signal.SIGTERM)
    cluster.servers.clear()
    cluster.start_server()


def test_replicas_open_both_keys_while_values_move_and_the_new_one_alone_after(
    cluster: Cluster,
) -> None:
    old_key = cluster.env["BARYON_MASTER_KEY"]
    cluster.client().create_environment_template(name="before-rotation")

    first = _rotate(cluster.env)
    assert first.returncode == 0, first.stderr
    new_key = json.loads(first.stdout)["newMasterKey"]
    # Nothing moved yet: the running replica, with the old key alone, still answers.
    assert cluster.client().list_environment_templates()["templates"]

    _restart_server(cluster, BARYON_MASTER_KEY=new_key, BARYON_MASTER_KEY_PREVIOUS=old_key)
    cluster.client().create_environment_template(name="during-rotation")

    second = _rotate(cluster.env)
    assert second.returncode == 0, second.stderr
    resealed = json.loads(second.stdout)["resealed"]
    assert {"region": "us-east-1", "table": "access_keys", "values": 1} in resealed

    _restart_server(cluster, BARYON_MASTER_KEY_PREVIOUS=None)
    names = {t["name"] for t in cluster.client().list_environment_templates()["templates"]}
    assert names == {"before-rotation", "during-rotation"}

    # A replica someone forgot, still on the old key: the client's secret no longer opens.
    _restart_server(cluster, BARYON_MASTER_KEY=old_key)
    with pytest.raises(ClientError) as refused:
        cluster.client().list_environment_templates()
    # As Baryon answers any secret it cannot open (the replica's log names the master key).
    assert refused.value.response["Error"]["Code"] == "InternalServerException"
