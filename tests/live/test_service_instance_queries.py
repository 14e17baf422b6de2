"""ListServiceInstances against a real `baryon up`: every filter key, every sort column in
both orders across small pages, and the errors for bad values and reused tokens."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.bundles import Registry, service_bundle
from tests.support.deploying import (
    FAST,
    env_spec,
    error_message,
    instance_settled,
    publish_environment_template,
    publish_service_template,
    service_spec,
)
from tests.support.processes import BaryonProcess, own_baryon

SUFFIX = uuid.uuid4().hex[:6]
ENV_TEMPLATE = f"qenv-{SUFFIX}"
TEMPLATE_A, TEMPLATE_B = f"qa-{SUFFIX}", f"qb-{SUFFIX}"
ENV_A, ENV_B = f"east{SUFFIX}", f"west{SUFFIX}"
ALPHA, BETA, GAMMA = f"alpha-{SUFFIX}", f"beta-{SUFFIX}", f"gamma-{SUFFIX}"
SORT_KEYS = {
    "name": "name",
    "deploymentStatus": "deploymentStatus",
    "templateName": "templateName",
    "serviceName": "serviceName",
    "environmentName": "environmentName",
    "lastDeploymentAttemptedAt": "lastDeploymentAttemptedAt",
    "createdAt": "createdAt",
}


server = own_baryon("instance-queries", env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.01"})


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    return server.client("proton")


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _between(earlier: datetime, later: datetime) -> str:
    assert later - earlier > timedelta(milliseconds=200), (earlier, later)
    return _rfc3339(earlier + (later - earlier) / 2)


@pytest.fixture(scope="module")
def fleet(server: BaryonProcess, proton: Any) -> dict[str, dict[str, Any]]:
    """Four instances in three services, two templates and two environments, created a
    second apart; then a minor version of one template (one instance moves to it), a major
    version of the other, and a failed deployment of one instance. Returns instance views
    keyed "service/name"."""
    registry = Registry(proton, server.client("s3"))
    publish_environment_template(registry, ENV_TEMPLATE)
    for template in (TEMPLATE_A, TEMPLATE_B):
        publish_service_template(
            registry,
            template,
            [(ENV_TEMPLATE, "1")],
            service_bundle(pipeline=False),
            pipelineProvisioning="CUSTOMER_MANAGED",
        )
    for env in (ENV_A, ENV_B):
        proton.create_environment(
            protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
            name=env,
            templateName=ENV_TEMPLATE,
            templateMajorVersion="1",
            spec=env_spec(),
        )
    for env in (ENV_A, ENV_B):
        proton.get_waiter("environment_deployed").wait(name=env, WaiterConfig=FAST)

    services = [
        (ALPHA, TEMPLATE_A, [("a1", ENV_A, None), ("a2", ENV_B, None)]),
        (BETA, TEMPLATE_B, [("b1", ENV_A, None)]),
        (GAMMA, TEMPLATE_A, [("g1", ENV_B, None)]),
    ]
    for index, (name, template, instances) in enumerate(services):
        if index:
            time.sleep(0.5)  # distinct creation times, far apart enough to filter between
        proton.create_service(
            name=name, templateName=template, templateMajorVersion="1", spec=service_spec(instances)
        )
        proton.get_waiter("service_created").wait(name=name, WaiterConfig=FAST)

    publish_service_template(
        registry, TEMPLATE_A, [(ENV_TEMPLATE, "1")], service_bundle(pipeline=False), major="1"
    )
    publish_service_template(
        registry, TEMPLATE_B, [(ENV_TEMPLATE, "1")], service_bundle(pipeline=False)
    )
    time.sleep(0.5)
    proton.update_service_instance(serviceName=GAMMA, name="g1", deploymentType="MINOR_VERSION")
    assert instance_settled(proton, GAMMA, "g1")["deploymentStatus"] == "SUCCEEDED"
    proton.update_service_instance(
        serviceName=ALPHA,
        name="a2",
        deploymentType="CURRENT_VERSION",
        spec=service_spec([("a2", ENV_B, {"image": "it's"})]),
    )
    assert instance_settled(proton, ALPHA, "a2")["deploymentStatus"] == "FAILED"
    return {f"{i['serviceName']}/{i['name']}": i for i in _list(proton)}


def _list(proton: Any, page_size: int = 2, **kwargs: Any) -> list[dict[str, Any]]:
    found = []
    pages = proton.get_paginator("list_service_instances").paginate(
        **kwargs, PaginationConfig={"PageSize": page_size}
    )
    for page in pages:
        assert len(page["serviceInstances"]) <= page_size
        found += page["serviceInstances"]
    return found


def _keys(items: list[dict[str, Any]]) -> list[str]:
    return [f"{i['serviceName']}/{i['name']}" for i in items]


def _filtered(proton: Any, *filters: tuple[str, str], **kwargs: Any) -> list[str]:
    return _keys(_list(proton, filters=[{"key": k, "value": v} for k, v in filters], **kwargs))


def test_default_order_and_summary(proton: Any, fleet: dict[str, dict[str, Any]]) -> None:
    everything = _keys(_list(proton, page_size=1))
    assert everything == [f"{ALPHA}/a1", f"{ALPHA}/a2", f"{BETA}/b1", f"{GAMMA}/g1"]
    a2 = fleet[f"{ALPHA}/a2"]
    assert (a2["environmentName"], a2["templateName"], a2["deploymentStatus"]) == (
        ENV_B,
        TEMPLATE_A,
        "FAILED",
    )
    assert (a2["templateMajorVersion"], a2["templateMinorVersion"]) == ("1", "0")
    assert "spec" not in a2
    assert _keys(_list(proton, serviceName=ALPHA)) == [f"{ALPHA}/a1", f"{ALPHA}/a2"]
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.list_service_instances(serviceName=f"nobody-{SUFFIX}")


def test_equality_filters(proton: Any, fleet: dict[str, dict[str, Any]]) -> None:
    assert _filtered(proton, ("name", "b1")) == [f"{BETA}/b1"]
    assert _filtered(proton, ("name", "a1"), ("name", "g1")) == [f"{ALPHA}/a1", f"{GAMMA}/g1"]
    assert _filtered(proton, ("deploymentStatus", "FAILED")) == [f"{ALPHA}/a2"]
    assert _filtered(proton, ("deploymentStatus", "SUCCEEDED")) == [
        f"{ALPHA}/a1",
        f"{BETA}/b1",
        f"{GAMMA}/g1",
    ]
    assert _filtered(proton, ("templateName", TEMPLATE_A)) == [
        f"{ALPHA}/a1",
        f"{ALPHA}/a2",
        f"{GAMMA}/g1",
    ]
    assert _filtered(proton, ("serviceName", GAMMA)) == [f"{GAMMA}/g1"]
    assert _filtered(proton, ("environmentName", ENV_B)) == [f"{ALPHA}/a2", f"{GAMMA}/g1"]
    # Different keys all apply.
    assert _filtered(proton, ("environmentName", ENV_A), ("templateName", TEMPLATE_A)) == [
        f"{ALPHA}/a1"
    ]
    assert _filtered(proton, ("name", "b1"), ("serviceName", ALPHA)) == []
    assert _filtered(proton, ("environmentName", ENV_B), serviceName=ALPHA) == [f"{ALPHA}/a2"]


def test_deployed_template_version_status(proton: Any, fleet: dict[str, dict[str, Any]]) -> None:
    # TEMPLATE_A has 1.1 (g1 runs it), TEMPLATE_B has 2.0 (b1 still on 1.0).
    assert _filtered(proton, ("deployedTemplateVersionStatus", "UP_TO_DATE")) == [f"{GAMMA}/g1"]
    assert _filtered(proton, ("deployedTemplateVersionStatus", "BEHIND_MINOR")) == [
        f"{ALPHA}/a1",
        f"{ALPHA}/a2",
    ]
    assert _filtered(proton, ("deployedTemplateVersionStatus", "BEHIND_MAJOR")) == [f"{BETA}/b1"]
    assert _filtered(
        proton,
        ("deployedTemplateVersionStatus", "UP_TO_DATE"),
        ("deployedTemplateVersionStatus", "BEHIND_MAJOR"),
    ) == [f"{BETA}/b1", f"{GAMMA}/g1"]
    assert fleet[f"{GAMMA}/g1"]["templateMinorVersion"] == "1"


def test_time_filters(proton: Any, fleet: dict[str, dict[str, Any]]) -> None:
    a1, b1, g1 = fleet[f"{ALPHA}/a1"], fleet[f"{BETA}/b1"], fleet[f"{GAMMA}/g1"]
    after_alpha = _between(a1["createdAt"], b1["createdAt"])
    after_beta = _between(b1["createdAt"], g1["createdAt"])
    assert _filtered(proton, ("createdAtBefore", after_alpha)) == [f"{ALPHA}/a1", f"{ALPHA}/a2"]
    assert _filtered(proton, ("createdAtAfter", after_alpha)) == [f"{BETA}/b1", f"{GAMMA}/g1"]
    assert _filtered(proton, ("createdAtAfter", after_alpha), ("createdAtBefore", after_beta)) == [
        f"{BETA}/b1"
    ]

    # g1 and a2 were deployed again after every instance had been created.
    last_created = max(i["createdAt"] for i in fleet.values())
    redeployed = min(fleet[k]["lastDeploymentAttemptedAt"] for k in (f"{GAMMA}/g1", f"{ALPHA}/a2"))
    since = _between(last_created, redeployed)
    assert _filtered(proton, ("lastDeploymentAttemptedAtAfter", since)) == [
        f"{ALPHA}/a2",
        f"{GAMMA}/g1",
    ]
    assert _filtered(proton, ("lastDeploymentAttemptedAtBefore", since)) == [
        f"{ALPHA}/a1",
        f"{BETA}/b1",
    ]
    # Proton's own example format, and an explicit offset, are both RFC 3339.
    assert len(_filtered(proton, ("createdAtAfter", "1985-04-12T23:20:50.52Z"))) == 4
    assert _filtered(proton, ("createdAtBefore", "1985-04-12T23:20:50.52+02:00")) == []
    assert len(_filtered(proton, ("createdAtBefore", _rfc3339(datetime.now(UTC))))) == 4


@pytest.mark.parametrize("sort_by", list(SORT_KEYS))
def test_sort_by_each_column_in_both_orders(
    proton: Any, fleet: dict[str, dict[str, Any]], sort_by: str
) -> None:
    member = SORT_KEYS[sort_by]
    expected = sorted(fleet.values(), key=lambda i: (i[member], i["serviceName"], i["name"]))
    ascending = _list(proton, page_size=1, sortBy=sort_by, sortOrder="ASCENDING")
    assert _keys(ascending) == _keys(expected)
    assert _keys(_list(proton, page_size=3, sortBy=sort_by)) == _keys(expected)
    descending = _list(proton, page_size=2, sortBy=sort_by, sortOrder="DESCENDING")
    assert _keys(descending) == _keys(list(reversed(expected)))
    values = [i[member] for i in ascending]
    assert values == sorted(values)


def test_invalid_filters_and_tokens(proton: Any, fleet: dict[str, dict[str, Any]]) -> None:
    refused = {
        ("deployedTemplateVersionStatus", "STALE"): "must be one of UP_TO_DATE, BEHIND_MINOR",
        ("createdAtBefore", "yesterday"): "createdAtBefore needs an RFC 3339 time",
        ("lastDeploymentAttemptedAtAfter", "2026-13-45T00:00:00Z"): "needs an RFC 3339 time",
        ("color", "blue"): "Member must satisfy enum value set",
    }
    for (key, value), fragment in refused.items():
        with pytest.raises(proton.exceptions.ValidationException) as caught:
            proton.list_service_instances(filters=[{"key": key, "value": value}])
        assert fragment in error_message(caught), key
    with pytest.raises(proton.exceptions.ValidationException, match="sortBy"):
        proton.list_service_instances(sortBy="color")

    first = proton.list_service_instances(
        maxResults=1, filters=[{"key": "templateName", "value": TEMPLATE_A}]
    )
    token = first["nextToken"]
    others: list[dict[str, Any]] = [
        {"filters": [{"key": "templateName", "value": TEMPLATE_B}]},
        {},
        {"filters": [{"key": "templateName", "value": TEMPLATE_A}], "sortBy": "name"},
        {
            "filters": [{"key": "templateName", "value": TEMPLATE_A}],
            "sortOrder": "DESCENDING",
        },
        {"filters": [{"key": "templateName", "value": TEMPLATE_A}], "serviceName": ALPHA},
    ]
    for other in others:
        with pytest.raises(proton.exceptions.ValidationException, match="different parameters"):
            proton.list_service_instances(maxResults=1, nextToken=token, **other)
    rest = proton.list_service_instances(
        maxResults=5, nextToken=token, filters=[{"key": "templateName", "value": TEMPLATE_A}]
    )
    assert _keys(first["serviceInstances"] + rest["serviceInstances"]) == [
        f"{ALPHA}/a1",
        f"{ALPHA}/a2",
        f"{GAMMA}/g1",
    ]
    assert "nextToken" not in rest
