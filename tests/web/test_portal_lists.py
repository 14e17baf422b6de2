"""The portal at fleet scale, as HTML pages: the fleet's counts and minor rollouts for
resources also behind a major, the lists of exactly what failed, filters, search and
server-side pages, deployment history that never links to a deleted resource, queued
deployments and Retry. The fleet is seeded in the store (tests/support/fleet_seed.py) the
size issue 16 was tried at: 18 environments, 44 instances, 117 deployments."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape

from sqlalchemy import create_engine, insert, select, update

from baryon.store.tables import Deployment, Environment, ServiceInstance, Template, TemplateVersion
from tests.support import fleet_seed
from tests.web.conftest import ROLE, Portal, finish

ARN = "arn:aws:proton:us-east-1:111122223333"
FAILED = (("svc-00001", "inst-000"), ("svc-00001", "inst-001"), ("svc-00001", "inst-002"))
UP_TO_DATE = tuple(("svc-00000", f"inst-{i:03d}") for i in range(4))
DELETED_INSTANCE = ("svc-00003", "gone")


@dataclass(frozen=True)
class SeededFleet:
    instances: int
    environments: int
    deployments: int


def seed_portal_fleet(database_url: str) -> SeededFleet:
    """Issue 16's fleet: 44 instances of bench-svc, 40 on 1.0 with 1.1 and 2.0 published
    (behind a major, and a minor of their own major is newer), 4 on the recommended 2.1,
    3 failed; 18 environments; 117 deployments, 11 of them of an instance deleted since."""
    fleet_seed.seed(database_url, 44, per_service=11, environments=18)
    now = datetime.now(UTC)
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            template_id = connection.execute(
                select(Template.id).where(Template.name == fleet_seed.SVC_TEMPLATE)
            ).scalar_one()
            connection.execute(
                insert(TemplateVersion),
                fleet_seed._version_row(template_id, 1, 1, now),
            )
            connection.execute(
                update(ServiceInstance).values(
                    template_major=1, template_minor=0, deployment_status="SUCCEEDED"
                )
            )
            for service, name in UP_TO_DATE:
                connection.execute(
                    update(ServiceInstance)
                    .where(ServiceInstance.service_name == service, ServiceInstance.name == name)
                    .values(template_major=2, template_minor=1)
                )
            for service, name in FAILED:
                connection.execute(
                    update(ServiceInstance)
                    .where(ServiceInstance.service_name == service, ServiceInstance.name == name)
                    .values(deployment_status="FAILED")
                )
            rows = connection.execute(
                select(
                    ServiceInstance.service_name,
                    ServiceInstance.name,
                    ServiceInstance.environment_name,
                )
            ).all()
            environments = list(connection.execute(select(Environment.name)).scalars())
            history = []
            targets = [(s, n, e) for s, n, e in rows] * 2
            targets += [(None, None, e) for e in environments]
            targets += [(*DELETED_INSTANCE, "env-00")] * 11
            for index, (service, name, environment) in enumerate(targets):
                history.append(_deployment(index, service, name, environment, now))
            connection.execute(insert(Deployment), history)
    finally:
        engine.dispose()
    return SeededFleet(len(rows), len(environments), len(history))


def _deployment(
    index: int, service: str | None, name: str | None, environment: str, now: datetime
) -> dict[str, object]:
    at = now - timedelta(hours=200 - index)
    instance = service is not None
    return {
        "id": str(uuid.uuid4()),
        "target_type": "SERVICE_INSTANCE" if instance else "ENVIRONMENT",
        "target_arn": f"{ARN}:service/{service}/service-instance/{name}"
        if instance
        else f"{ARN}:environment/{environment}",
        "operation": "DEPLOY",
        "environment_name": environment,
        "service_name": service,
        "service_instance_name": name,
        "status": "SUCCEEDED",
        "plan": {},
        "target_resource_created_at": at,
        "created_at": at,
        "last_modified_at": at,
        "completed_at": at,
    }


def _counts(page: str, row_id: str) -> dict[str, str]:
    row = re.search(rf'id="{row_id}">(.*?)</tr>', page, re.S)
    assert row is not None, row_id
    return dict(re.findall(r'data-count="([a-z-]+)">(\d+)<', row.group(1)))


def _links(page: str, row_id: str) -> dict[str, str]:
    row = re.search(rf'id="{row_id}">(.*?)</tr>', page, re.S)
    assert row is not None, row_id
    return {
        name: unescape(href)
        for href, name in re.findall(r'<a href="([^"]+)" data-count="([a-z-]+)">', row.group(1))
    }


def _listed(page: str) -> list[str]:
    """The resources a list shows, as the text of each row's heading cell."""
    cells = re.findall(r'<th scope="row">(.*?)</th>', page, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in cells]


def test_the_fleet_counts_and_offers_a_minor_rollout_to_instances_also_behind_a_major(
    signed_in: Portal,
) -> None:
    seed_portal_fleet(signed_in.runtime.settings.sqlalchemy_url)
    fleet = signed_in.client.get("/portal/fleet").text
    counts = _counts(fleet, "fleet-service-bench-svc-instance")
    assert counts == {
        "total": "44",
        "up-to-date": "4",
        "behind-minor": "40",
        "behind-major": "40",
        "failed": "3",
    }
    assert "Upgrade 40 service instances to the latest minor" in fleet
    assert "Upgrade 40 service instances to the latest major" in fleet
    confirm = signed_in.client.get(
        "/portal/fleet/service/bench-svc/upgrade/minor?resources=instance"
    ).text
    assert confirm.count("<td>1.0</td>") == 40 and confirm.count("<td>1.1</td>") == 40
    assert "Upgrade 40 resource(s)" in confirm


def test_each_fleet_number_links_to_a_list_of_exactly_what_it_counts(signed_in: Portal) -> None:
    seed_portal_fleet(signed_in.runtime.settings.sqlalchemy_url)
    links = _links(signed_in.client.get("/portal/fleet").text, "fleet-service-bench-svc-instance")
    failed = signed_in.client.get(links["failed"]).text
    assert sorted(_listed(failed)) == sorted(
        f"{n} of {s} in env-{(int(s[-1]) + int(n[-3:])) % 18:02d}" for s, n in FAILED
    )
    up_to_date = _listed(signed_in.client.get(links["up-to-date"]).text)
    assert [row.split(" of ")[0] for row in up_to_date] == [n for _, n in UP_TO_DATE]
    behind_minor = signed_in.client.get(links["behind-minor"]).text
    # Forty rows: the first page holds fifty, so there is no next page.
    assert len(_listed(behind_minor)) == 40 and 'id="next-page"' not in behind_minor


def test_the_overview_failed_card_lists_exactly_the_failed_resources(signed_in: Portal) -> None:
    seed_portal_fleet(signed_in.runtime.settings.sqlalchemy_url)
    home = signed_in.client.get("/portal/").text
    card = re.search(r'<a href="([^"]+)" id="card-failed"><span class="number">(\d+)</span>', home)
    assert card is not None and card.group(2) == "3"
    failed = signed_in.client.get(unescape(card.group(1)))
    assert failed.status_code == 200 and "<h1>Failed resources</h1>" in failed.text
    assert len(_listed(failed.text)) == 3
    assert all(row.startswith("instance inst-00") for row in _listed(failed.text))


def test_lists_page_on_the_server_and_filter_by_name_template_version_and_environment(
    signed_in: Portal,
) -> None:
    seed_portal_fleet(signed_in.runtime.settings.sqlalchemy_url)
    first = signed_in.client.get("/portal/instances").text
    assert len(_listed(first)) == 44 and 'id="next-page"' not in first  # one page of 50
    environments = signed_in.client.get("/portal/environments?q=ENV-0").text
    assert _listed(environments) == [f"env-{i:02d}" for i in range(10)]
    seen: list[str] = []
    url = "/portal/resources?template=bench-svc&version=1.0"
    while url:
        page = signed_in.client.get(url).text
        seen += _listed(page)
        more = re.search(r'<a href="([^"]+)" id="next-page">', page)
        url = unescape(more.group(1)) if more else ""
    assert len(seen) == 40 and len(set(seen)) == 40
    in_env = _listed(signed_in.client.get("/portal/instances?environment=env-05").text)
    assert in_env and all(row.endswith("in env-05") for row in in_env)
    services = signed_in.client.get("/portal/services?q=00002").text
    assert _listed(services) == ["svc-00002"]


def test_a_bad_filter_is_a_clear_error_naming_it(signed_in: Portal) -> None:
    for path, named in (
        ("/portal/instances?status=sideways", "'status'"),
        ("/portal/environments?version=one", "'version'"),
        ("/portal/resources?kind=robot", "'kind'"),
        ("/portal/services?q=" + "x" * 101, "'q'"),
        ("/portal/deployments?status=gone", "'status'"),
    ):
        response = signed_in.client.get(path)
        assert response.status_code == 400, path
        assert named in unescape(response.text), path
    mixed = signed_in.client.get("/portal/instances?after=not-a-token")
    assert mixed.status_code == 400 and "Traceback" not in mixed.text


def test_deployment_history_pages_and_never_links_to_a_deleted_resource(
    signed_in: Portal,
) -> None:
    seeded = seed_portal_fleet(signed_in.runtime.settings.sqlalchemy_url)
    assert (seeded.environments, seeded.instances, seeded.deployments) == (18, 44, 117)
    ids: list[str] = []
    url = "/portal/deployments"
    pages = 0
    while url:
        page = signed_in.client.get(url).text
        pages += 1
        ids += re.findall(r'<a href="/portal/deployments/([0-9a-f-]{36})">', page)
        assert "/instances/gone" not in page
        more = re.search(r'<a href="([^"]+)" id="next-page">', page)
        url = unescape(more.group(1)) if more else ""
    assert pages == 3 and len(ids) == 117 and len(set(ids)) == 117
    first = signed_in.client.get("/portal/deployments?service=svc-00003").text
    assert 'gone <span class="muted deleted">(deleted)</span>' in first
    assert '<a href="/portal/services/svc-00003/instances/inst-000">' in first


def test_a_queued_deployment_says_it_waits_for_a_worker_and_a_failed_one_can_be_retried(
    signed_in: Portal,
) -> None:
    created = signed_in.post(
        "/portal/new/environment?template=network",
        {
            "mode": "form",
            "name": "dev",
            "description": "",
            "role": ROLE,
            "input-vpc_cidr": "10.0.0.0/16",
            "input-size": "small",
        },
    )
    assert created.status_code == 303, created.text
    with signed_in.runtime.db.session() as session:
        first = session.scalars(select(Deployment.id)).one()
    queued = signed_in.client.get(f"/portal/deployments/{first}").text
    assert 'id="waiting-for-worker"' in queued and ">queued<" in queued
    assert ">in progress<" not in queued
    history = signed_in.client.get("/portal/deployments").text
    assert ">queued<" in history
    finish(signed_in.runtime, result="FAILED")
    failed = signed_in.client.get(f"/portal/deployments/{first}").text
    assert 'id="retry-deployment"' in failed and 'id="waiting-for-worker"' not in failed
    retried = signed_in.post("/portal/environments/dev/retry", {"deployment": first})
    assert retried.status_code == 303
    with signed_in.runtime.db.session() as session:
        assert session.scalar(select(Environment.deployment_status)) == "IN_PROGRESS"
        assert len(session.scalars(select(Deployment.id)).all()) == 2
    after = signed_in.client.get(f"/portal/deployments/{first}").text
    assert 'id="retry-deployment"' not in after  # no longer the last deployment
