"""The portal of a Baryon serving two regions shows one at a time, as the AWS console does:
the home region first, another after the visitor picks it, with one sign-in for both."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from baryon.app import create_app
from baryon.operations.portal_users import create_user
from baryon.runtime import build_runtime
from baryon.settings import load_settings
from tests.support.bundles import ENV_SCHEMA, env_bundle
from tests.web.conftest import PASSWORD, USER, Portal, add_version

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

OTHER = "eu-west-1"


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[Portal]:
    settings = load_settings({"data_dir": tmp_path, "regions": f"us-east-1,{OTHER}"}, environ={})
    runtime = build_runtime(settings)
    other = runtime.cells.get(OTHER)
    assert other is not None
    with runtime.identity_db.session(write=True) as session:
        create_user(session, USER, PASSWORD, datetime.now(UTC))
    add_version(runtime, "ENVIRONMENT", "home-network", env_bundle(), ENV_SCHEMA)
    add_version(other, "ENVIRONMENT", "other-network", env_bundle(), ENV_SCHEMA)
    try:
        with TestClient(create_app(runtime), base_url="http://portal.test") as client:
            portal = Portal(runtime, client)
            assert portal.sign_in().status_code == 303
            yield portal
    finally:
        runtime.close()


def shown(portal: Portal, path: str) -> str:
    page = portal.client.get(path)
    assert page.status_code == 200, page.text
    return str(page.text)


def test_the_home_region_is_shown_until_another_is_picked(portal: Portal) -> None:
    catalog = shown(portal, "/portal/templates")
    assert "home-network" in catalog and "other-network" not in catalog
    assert '<option value="us-east-1" selected>' in catalog
    assert f'<option value="{OTHER}">' in catalog

    picked = portal.post("/portal/region", {"region": OTHER, "next": "/portal/templates"})
    assert picked.status_code == 303 and picked.headers["location"] == "/portal/templates"
    catalog = shown(portal, "/portal/templates")
    assert "other-network" in catalog and "home-network" not in catalog
    assert f'<option value="{OTHER}" selected>' in catalog

    portal.post("/portal/region", {"region": "us-east-1", "next": "/portal/templates"})
    assert "home-network" in shown(portal, "/portal/templates")


def test_a_region_not_served_or_a_foreign_next_page_is_not_followed(portal: Portal) -> None:
    refused = portal.post("/portal/region", {"region": "ap-south-1", "next": "/portal/"})
    assert refused.status_code == 400
    assert f"This Baryon serves us-east-1, {OTHER}; pick one of them." in refused.text
    elsewhere = portal.post("/portal/region", {"region": OTHER, "next": "https://evil.test/"})
    assert elsewhere.headers["location"] == "/portal/"


def test_picking_a_region_needs_the_session_form_token(portal: Portal) -> None:
    forged = portal.client.post(
        "/portal/region", data={"region": OTHER, "next": "/portal/"}, follow_redirects=False
    )
    assert forged.status_code == 403
    assert "home-network" in shown(portal, "/portal/templates")
