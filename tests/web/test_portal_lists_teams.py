"""The team filter of the portal's lists: a resource's team is its tag named by the
``team_tag_key`` setting ("team"), an instance without one takes its service's, a pipeline
is its service's. Environments, services, instances and the resources list filter by it and
show it. Tags are set through the API's own operations (CreateEnvironment, CreateService and
TagResource, called in process as the admin), as a client would set them."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from baryon.operations import environments, in_process, services, tags
from tests.web.conftest import ROLE, USER, Portal, finish

# What is filtered is SQL the lists run; both engines (the conftest's runtime) run it.


def _call(portal: Portal, operation: str) -> Any:
    return in_process.context(portal.runtime, in_process.portal_caller(USER), operation)


def _team(value: str) -> list[dict[str, str]]:
    return [{"key": "team", "value": value}]


def _env(portal: Portal, name: str, team: str | None) -> None:
    request: dict[str, Any] = {
        "name": name,
        "templateName": "network",
        "templateMajorVersion": "1",
        "spec": yaml.safe_dump({"proton": "EnvironmentSpec", "spec": {"vpc_cidr": "10.0.0.0/16"}}),
        "protonServiceRoleArn": ROLE,
    }
    if team:
        request["tags"] = _team(team)
    environments.create_environment(_call(portal, "CreateEnvironment"), request)


@pytest.fixture
def teams(signed_in: Portal) -> Portal:
    """payments: env dev, service shop and its instance web (by the service's tag);
    search: env prod and shop's instance api (its own tag); untagged: env lab."""
    _env(signed_in, "dev", "payments")
    _env(signed_in, "prod", "search")
    _env(signed_in, "lab", None)
    finish(signed_in.runtime)
    spec = {
        "proton": "ServiceSpec",
        "instances": [
            {"name": "web", "environment": "dev", "spec": {"port": 80}},
            {"name": "api", "environment": "prod", "spec": {"port": 81}},
        ],
    }
    services.create_service(
        _call(signed_in, "CreateService"),
        {
            "name": "shop",
            "templateName": "webapp",
            "templateMajorVersion": "1",
            "spec": yaml.safe_dump(spec),
            "tags": _team("payments"),
        },
    )
    tags.tag_resource(
        _call(signed_in, "TagResource"),
        {
            "resourceArn": signed_in.runtime.arns.service_instance("shop", "api"),
            "tags": _team("search"),
        },
    )
    return signed_in


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _names(page: str) -> list[tuple[str, str]]:
    """(the row's resource, its team) of every row of a list."""
    found = re.findall(r'<th scope="row">(.*?)</th>\s*<td class="team">(.*?)</td>', page, re.S)
    return [(_text(what), _text(team)) for what, team in found]


def test_each_list_shows_the_team_and_filters_by_it(teams: Portal) -> None:
    get = teams.client.get
    assert _names(get("/portal/environments").text) == [
        ("dev", "payments"),
        ("lab", "-"),
        ("prod", "search"),
    ]
    assert _names(get("/portal/environments?team=payments").text) == [("dev", "payments")]
    assert _names(get("/portal/services?team=payments").text) == [("shop", "payments")]
    assert "No service matches" in get("/portal/services?team=search").text
    # The instance without a tag of its own is its service's team's; the tagged one is not.
    assert _names(get("/portal/instances?team=payments").text) == [
        ("web of shop in dev", "payments")
    ]
    assert _names(get("/portal/instances?team=search").text) == [("api of shop in prod", "search")]
    everything = _names(get("/portal/resources?team=search").text)
    assert everything == [
        ("environment prod", "search"),
        ("instance api of shop in prod", "search"),
    ]


def test_the_filter_form_keeps_the_team_and_pages_stay_with_it(teams: Portal) -> None:
    page = teams.client.get("/portal/environments?team=payments").text
    assert 'id="filter-team" name="team" value="payments"' in page
    live = teams.client.get("/portal/live/environments?team=payments").text
    assert _names(live) == [("dev", "payments")]
