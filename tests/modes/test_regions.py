"""The regions one Baryon serves: how the settings name them, and the cell each one gets.

Every region is a cell of its own (its database, ARNs, cloud endpoint and queue), on SQLite
(a file per region) and on PostgreSQL (a schema per region); what is global as IAM is (access
keys) stays in the home region, which every cell reads it from.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from baryon.auth.access_keys import create_access_key, read_secret
from baryon.cloud.buckets import location
from baryon.modes.regions import RegionSettingError, cells, schema_name, served_regions
from baryon.runtime import Runtime, build_runtime
from baryon.settings import Settings
from baryon.store import jobs


def settings(tmp_path: Path, **changes: Any) -> Settings:
    return Settings(data_dir=tmp_path, **changes)


def test_the_home_region_is_served_first_and_listed_regions_once_each(tmp_path: Path) -> None:
    chosen = settings(tmp_path, region="eu-west-1", regions=" us-east-1, eu-west-1,,us-east-1 ")
    assert served_regions(chosen) == ("eu-west-1", "us-east-1")
    assert served_regions(settings(tmp_path)) == ("us-east-1",)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"region": "US-EAST-1"}, "setting 'region': 'US-EAST-1' is not a region name"),
        ({"regions": "us-east-1,west"}, "setting 'regions': 'west' is not a region name"),
        (
            {"region_cloud_endpoints": "us-east-1=ftp://x"},
            "setting 'region_cloud_endpoints': 'us-east-1=ftp://x' is not region=http(s)",
        ),
        (
            {"region_cloud_endpoints": "eu-west-1=http://cloud:4566"},
            "setting 'region_cloud_endpoints': 'eu-west-1' is not a served region (us-east-1)",
        ),
    ],
    ids=["bad-home", "bad-listed", "bad-endpoint", "unserved-endpoint"],
)
def test_wrong_region_settings_are_refused_naming_the_setting(
    tmp_path: Path, changes: dict[str, str], message: str
) -> None:
    with pytest.raises(RegionSettingError) as caught:
        cells(settings(tmp_path, **changes))
    assert str(caught.value).startswith(message)


def test_each_sqlite_region_has_its_own_file_and_may_have_its_own_cloud(tmp_path: Path) -> None:
    home, west = cells(
        settings(
            tmp_path,
            regions="us-west-2",
            cloud_endpoint="http://shared:4566",
            region_cloud_endpoints="us-west-2=http://west:4566",
        )
    )
    assert home.settings.sqlalchemy_url == f"sqlite:///{tmp_path / 'baryon.db'}"
    assert home.settings.cloud_endpoint == "http://shared:4566"
    assert (west.region, west.settings.region, west.schema) == ("us-west-2", "us-west-2", None)
    assert west.settings.sqlalchemy_url == f"sqlite:///{tmp_path / 'regions' / 'us-west-2.db'}"
    assert west.settings.cloud_endpoint == "http://west:4566"


def test_a_postgresql_region_is_a_schema_of_the_same_database(tmp_path: Path) -> None:
    url = "postgresql+psycopg://baryon:s%40cret@db.example:5432/baryon"
    _home, west = cells(settings(tmp_path, regions="us-west-2", database_url=url))
    assert west.schema == schema_name("us-west-2") == "region_us_west_2"
    assert west.settings.database_url == (
        "postgresql+psycopg://baryon:s%40cret@db.example:5432/baryon"
        "?options=-csearch_path%3Dregion_us_west_2"
    )


def test_s3_gets_a_location_constraint_outside_us_east_1_only() -> None:
    assert location("us-east-1") == {}
    assert location("eu-central-1") == {
        "CreateBucketConfiguration": {"LocationConstraint": "eu-central-1"}
    }


@pytest.fixture(params=["sqlite", "postgresql"])
def two_regions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    database_url = ""
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_server").create_database()
    runtime = build_runtime(settings(tmp_path, regions="ap-southeast-2", database_url=database_url))
    yield runtime
    runtime.close()


def test_every_region_gets_a_migrated_cell_of_its_own(two_regions: Runtime) -> None:
    home = two_regions
    assert home.cells.regions == ("us-east-1", "ap-southeast-2")
    other = home.cells.get("ap-southeast-2")
    assert other is not None and other is not home
    assert home.cells.get("eu-west-1") is None and home.cells.get(None) is None
    assert other.cells is home.cells
    assert other.arns.environment("e") == "arn:aws:proton:ap-southeast-2:123456789012:environment/e"
    assert home.arns.environment("e") == "arn:aws:proton:us-east-1:123456789012:environment/e"

    # A job queued in one region is claimed by that region's workers only.
    now = datetime.now(UTC)
    with other.db.session(write=True) as session:
        jobs.enqueue(session, jobs.JobKind.DEPLOY, {"deployment_id": "d"}, now)
    lease = timedelta(seconds=30)
    assert jobs.claim(home.db, "home-worker", lease) is None
    claimed = jobs.claim(other.db, "other-worker", lease)
    assert claimed is not None and claimed.payload == {"deployment_id": "d"}


def test_keys_live_in_the_home_region_and_every_region_reads_them(two_regions: Runtime) -> None:
    home = two_regions
    other = home.cells.get("ap-southeast-2")
    assert other is not None
    assert home.identity_db is home.db and other.identity_db is home.db
    key = create_access_key(home.identity_db, home.box, "admin")
    assert read_secret(other.identity_db, other.box, key.access_key_id) == key.secret_access_key
    assert read_secret(other.db, other.box, key.access_key_id) is None


def test_a_postgresql_region_keeps_its_tables_in_its_schema(
    postgres_server: Any, tmp_path: Path
) -> None:
    url = postgres_server.create_database()
    runtime = build_runtime(settings(tmp_path, regions="us-west-2", database_url=url))
    try:
        with runtime.db.engine.connect() as connection:
            tables = connection.execute(
                text(
                    "SELECT table_schema, count(*) FROM information_schema.tables "
                    "WHERE table_name IN ('jobs', 'alembic_version') GROUP BY table_schema"
                )
            ).all()
        assert dict(tables) == {"public": 2, "region_us_west_2": 2}
        # Starting again finds both migrated: nothing is made twice.
        build_runtime(settings(tmp_path, regions="us-west-2", database_url=url)).close()
    finally:
        runtime.close()
