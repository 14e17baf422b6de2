"""Everything the registry does also works with PostgreSQL behind BARYON_DATABASE_URL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.bundles import Registry, env_bundle, service_bundle, tar_gz
from tests.support.processes import BaryonProcess, start_baryon


@pytest.fixture(scope="module")
def pg_baryon(
    postgres_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BaryonProcess]:
    process = start_baryon(
        tmp_path_factory.mktemp("baryon-pg"),
        env={
            "BARYON_DATABASE_URL": postgres_server.create_database(),
            # Small quotas so that the test can reach them.
            "BARYON_MAX_TEMPLATES": "3",
            "BARYON_MAX_VERSIONS_PER_TEMPLATE": "2",
        },
    )
    yield process
    process.stop()


def test_registry_on_postgresql(pg_baryon: BaryonProcess) -> None:
    proton = pg_baryon.client("proton")
    registry = Registry(proton, pg_baryon.client("s3"))
    assert not (pg_baryon.data_dir / "baryon.db").exists()  # nothing went to SQLite
    proton.create_environment_template(name="pg-env", tags=[{"key": "db", "value": "pg"}])
    version = registry.register("environment", "pg-env", tar_gz(env_bundle()))
    assert version["status"] == "DRAFT", version.get("statusMessage")
    registry.publish("environment", "pg-env", version)
    proton.create_service_template(name="pg-svc")
    svc = registry.register(
        "service",
        "pg-svc",
        tar_gz(service_bundle()),
        compatibleEnvironmentTemplates=[{"templateName": "pg-env", "majorVersion": "1"}],
    )
    assert svc["status"] == "DRAFT", svc.get("statusMessage")
    template = proton.get_environment_template(name="pg-env")["environmentTemplate"]
    assert template["recommendedVersion"] == "1.0"
    assert proton.list_tags_for_resource(resourceArn=template["arn"])["tags"] == [
        {"key": "db", "value": "pg"}
    ]
    pages = list(
        proton.get_paginator("list_service_templates").paginate(PaginationConfig={"PageSize": 1})
    )
    assert [t["name"] for page in pages for t in page["templates"]] == ["pg-svc"]


def test_quotas_are_settings(pg_baryon: BaryonProcess) -> None:
    proton = pg_baryon.client("proton")
    registry = Registry(proton, pg_baryon.client("s3"))
    existing = len(proton.list_environment_templates()["templates"])
    for index in range(3 - existing):
        proton.create_environment_template(name=f"quota-{index}")
    with pytest.raises(proton.exceptions.ServiceQuotaExceededException, match="quota is 3"):
        proton.create_environment_template(name="quota-3")
    for _ in range(2):
        registry.register("environment", "quota-0", tar_gz(env_bundle()), wait=False)
    with pytest.raises(proton.exceptions.ServiceQuotaExceededException, match="quota is 2"):
        registry.register("environment", "quota-0", tar_gz(env_bundle()), wait=False)
