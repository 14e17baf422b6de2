"""The regions one Baryon serves, and what each region's cell is configured with.

Each region is a cell of its own, isolated as AWS regions are: its own database (SQLite: the
home region keeps data_dir/baryon.db, every other region a file under data_dir/regions;
PostgreSQL: a schema of the same database per non-home region), its own ARNs and its own
cloud endpoint. What the settings say about regions is checked here, once, at start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.engine import make_url

from baryon.settings import Settings

# AWS's region names: us-east-1, eu-central-2, us-gov-west-1, ap-southeast-5, cn-north-1.
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_ENDPOINT = re.compile(r"^https?://[^\s,]+$")


class RegionSettingError(ValueError):
    """The regions settings are wrong; the message names the setting and the value."""


@dataclass(frozen=True)
class Cell:
    """One region's settings: the process's, with this region's name, database and cloud."""

    region: str
    settings: Settings
    # PostgreSQL only: the schema holding this region's tables (None: the default one).
    schema: str | None


def served_regions(settings: Settings) -> tuple[str, ...]:
    """The home region first, then the others in the order the settings list them."""
    check_region("region", settings.region)
    served = [settings.region]
    for name in _items(settings.regions):
        check_region("regions", name)
        if name not in served:
            served.append(name)
    return tuple(served)


def check_region(setting: str, name: str) -> None:
    if not _REGION.match(name):
        raise RegionSettingError(
            f"setting {setting!r}: {name!r} is not a region name (such as us-west-2)"
        )


def cells(settings: Settings) -> tuple[Cell, ...]:
    """Every served region's cell, the home region's first."""
    served = served_regions(settings)
    endpoints = _cloud_endpoints(settings, served)
    found = []
    for region in served:
        home = region == settings.region
        schema = None if home or not settings.database_url else schema_name(region)
        changes: dict[str, object] = {"region": region}
        if not home:
            changes["database_url"] = _database_url(settings, region, schema)
        if region in endpoints:
            changes["cloud_endpoint"] = endpoints[region]
        found.append(Cell(region, settings.replace(**changes), schema))
    return tuple(found)


def schema_name(region: str) -> str:
    """A PostgreSQL schema name for ``region`` (region names are checked: [a-z0-9-])."""
    return "region_" + region.replace("-", "_")


def _database_url(settings: Settings, region: str, schema: str | None) -> str:
    if schema is None:
        return f"sqlite:///{settings.data_dir / 'regions' / f'{region}.db'}"
    # libpq's options set search_path for every connection, so the region's tables (and
    # Alembic's version table) are found and made in its schema, unqualified as ever.
    url = make_url(settings.database_url)
    options = f"-csearch_path={schema}"
    if "options" in url.query:
        raise RegionSettingError(
            "setting 'database_url': its 'options' would be replaced by each region's "
            "search_path; set them on the database user instead (ALTER ROLE ... SET)"
        )
    return url.update_query_dict({"options": options}).render_as_string(hide_password=False)


def _cloud_endpoints(settings: Settings, served: tuple[str, ...]) -> dict[str, str]:
    endpoints: dict[str, str] = {}
    for item in _items(settings.region_cloud_endpoints):
        region, separator, url = item.partition("=")
        region, url = region.strip(), url.strip()
        if not separator or not _ENDPOINT.match(url):
            raise RegionSettingError(
                f"setting 'region_cloud_endpoints': {item!r} is not region=http(s)://host:port"
            )
        check_region("region_cloud_endpoints", region)
        if region not in served:
            raise RegionSettingError(
                f"setting 'region_cloud_endpoints': {region!r} is not a served region "
                f"({', '.join(served)})"
            )
        endpoints[region] = url
    return endpoints


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]
