"""`baryon server --processes N`: N processes answer on one port, each checking every call as
one server does (a deleted key is refused by whichever answers next); SIGTERM stops them all,
and one that ends unasked stops the server, which says so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support.cluster import REGION, Cluster, Member, start_cluster
from tests.support.processes import NO_RETRIES
from tests.support.waiting import eventually


@pytest.fixture
def cluster(postgres_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = start_cluster(
        tmp_path_factory.mktemp("processes"),
        postgres_server.create_database(),
        servers=0,
        workers=0,
    )
    yield running
    running.stop()


def _processes_of(member: Member) -> list[int]:
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if parent == member.process.pid:
                children.append(int(entry))
    return children


def _new_key(cluster: Cluster) -> tuple[str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "baryon.cli.main", "keys", "create", "--description", "soon gone"],
        capture_output=True,
        text=True,
        check=True,
        env=cluster.env,
    )
    values = dict(line.split("=", 1) for line in done.stdout.split())
    return values["AWS_ACCESS_KEY_ID"], values["AWS_SECRET_ACCESS_KEY"]


def _proton(member: Member, key: tuple[str, str]) -> Any:
    return boto3.session.Session().client(
        "proton",
        endpoint_url=f"http://127.0.0.1:{member.port}",
        region_name=REGION,
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        config=NO_RETRIES,
    )


def test_two_processes_share_the_port_and_whichever_answers_refuses_a_deleted_key(
    cluster: Cluster,
) -> None:
    server = cluster.start_server(processes=2)
    assert len(_processes_of(server)) == 2
    key = _new_key(cluster)
    proton = _proton(server, key)
    for _ in range(10):  # new connections: both processes answer some
        proton.list_environment_templates()
        proton = _proton(server, key)
    subprocess.run(
        [sys.executable, "-m", "baryon.cli.main", "keys", "delete", key[0]],
        check=True,
        capture_output=True,
        env=cluster.env,
    )
    for _ in range(10):
        with pytest.raises(ClientError) as refused:
            _proton(server, key).list_environment_templates()
        assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"

    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(60) == 0
    assert _processes_of(server) == []


def test_a_process_that_ends_unasked_stops_the_server(cluster: Cluster) -> None:
    server = cluster.start_server(processes=2)
    first, second = _processes_of(server)
    os.kill(first, signal.SIGKILL)
    assert server.process.wait(60) != 0
    eventually(lambda: not os.path.exists(f"/proc/{second}"), "the other process to stop")
    assert "ended (signal SIGKILL)" in server.log_path.read_text()
