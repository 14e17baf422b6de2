"""Scaled mode serving two regions: `baryon server` answers each region from its own schema of
the one PostgreSQL database, and a `baryon worker` runs every region's jobs, deploying into
that region of the cloud."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest

from tests.support.bundles import Registry, env_bundle, tar_gz
from tests.support.cluster import Cluster, start_cluster
from tests.support.deploying import FAST, env_spec, stack
from tests.support.processes import NO_RETRIES

OTHER = "eu-west-1"


@pytest.fixture
def cluster(postgres_server: Any, tmp_path: Path) -> Iterator[Cluster]:
    url = postgres_server.create_database()
    running = start_cluster(tmp_path, url, servers=0, workers=0)
    try:
        running.env["BARYON_REGIONS"] = f"us-east-1,{OTHER}"
        running.start_server()
        running.start_worker()
        yield running
    finally:
        running.stop()


def client(cluster: Cluster, service: str, region: str) -> Any:
    endpoint = (
        f"http://127.0.0.1:{cluster.servers[0].port}"
        if service == "proton"
        else cluster.cloud.endpoint
    )
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=cluster.access_key[0],
        aws_secret_access_key=cluster.access_key[1],
        config=NO_RETRIES,
    )


def test_a_worker_deploys_the_second_regions_environment_from_its_own_schema(
    cluster: Cluster,
) -> None:
    proton = client(cluster, "proton", OTHER)
    registry = Registry(proton, client(cluster, "s3", OTHER))
    proton.create_environment_template(name="scaled-west")
    version = registry.register("environment", "scaled-west", tar_gz(env_bundle()))
    assert version["status"] == "DRAFT", version.get("statusMessage")
    registry.publish("environment", "scaled-west", version)
    proton.create_environment(
        name="scaled-env",
        templateName="scaled-west",
        templateMajorVersion="1",
        protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
        spec=env_spec(),
    )
    proton.get_waiter("environment_deployed").wait(name="scaled-env", WaiterConfig=FAST)

    found = stack(client(cluster, "cloudformation", OTHER), "environment", "scaled-env")
    assert found is not None and found["StackId"].startswith(f"arn:aws:cloudformation:{OTHER}:")
    east = client(cluster, "cloudformation", "us-east-1")
    assert stack(east, "environment", "scaled-env") is None
    home = client(cluster, "proton", "us-east-1")
    assert home.list_environments()["environments"] == []

    with psycopg.connect(cluster.database_url.replace("postgresql+psycopg", "postgresql")) as db:
        rows = db.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'environments'"
        ).fetchall()
        assert sorted(row[0] for row in rows) == ["public", "region_eu_west_1"]
        counted = db.execute("SELECT count(*) FROM region_eu_west_1.environments").fetchone()
        assert counted == (1,)
        assert db.execute("SELECT count(*) FROM public.environments").fetchone() == (0,)
