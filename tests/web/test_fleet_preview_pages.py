"""The portal's fleet preview pages: a preview's identical changes show once, with the
resources they cover, the change set's resource changes, the rendered difference and the
risks highlighted; Approve starts the previewed deployments; a stale preview says why and its
approval is refused; a viewer sees no Approve and is refused a post anyway. The previews are
recorded through the domain as the planning job records them (no worker runs here)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from baryon.auth.roles import BuiltinRole
from baryon.domain import drift, fleet_previews
from baryon.domain.drift import CheckMethod, DriftKind, DriftTarget, Observation, ObservedDrift
from baryon.domain.fleet_previews import (
    EnginePlan,
    FileChange,
    ItemStatus,
    PlannedItem,
    ResourceChangeRecord,
)
from baryon.store.tables import (
    AuditRecordRow,
    Deployment,
    Environment,
    FleetPreviewRow,
    TemplateVersion,
)
from tests.support.bundles import ENV_SCHEMA, env_bundle
from tests.web.conftest import ROLE, Portal, add_version, finish
from tests.web.test_portal_hides_by_policy import _as

pytestmark = pytest.mark.parametrize("runtime", ["sqlite"], indirect=True)

ENVIRONMENTS = ("dev", "dev2", "dev3")
RENAMED = ResourceChangeRecord(
    action="Modify",
    logical_id="Bucket",
    resource_type="AWS::S3::Bucket",
    physical_id="dev-artifacts",
    replacement="True",
    policy_action="ReplaceAndDelete",
    scope=("Properties",),
    paths=("/Properties/BucketName",),
)
DIFF = FileChange(
    "cloudformation.yaml",
    ("--- cloudformation.yaml (1.0)", "+++ cloudformation.yaml (1.1)", "@@ -1 +1 @@",
     "-      BucketName: old-name", "+      BucketName: new-name"),
)  # fmt: skip


@pytest.fixture
def fleet(signed_in: Portal) -> Portal:
    for name in ENVIRONMENTS:
        created = signed_in.post(
            "/portal/new/environment?template=network&version=1.0",
            {"mode": "form", "name": name, "description": "", "role": ROLE,
             "input-vpc_cidr": "10.0.0.0/16", "input-size": "small"},
        )  # fmt: skip
        assert created.status_code == 303, created.text
    assert finish(signed_in.runtime) == len(ENVIRONMENTS)
    add_version(signed_in.runtime, "ENVIRONMENT", "network", env_bundle(), ENV_SCHEMA, minor=1)
    return signed_in


def _drift_on(portal: Portal, name: str) -> None:
    """An open drift item on the bucket's name of environment ``name``."""
    runtime = portal.runtime
    seen = ObservedDrift(
        "Bucket", "AWS::S3::Bucket", "dev-artifacts", "/BucketName", "old-name", "by-hand",
        DriftKind.NOT_EQUAL,
    )  # fmt: skip
    with runtime.db.session(write=True) as session:
        target = DriftTarget(runtime.arns.environment(name), "environment", name, None, "network")
        check = drift.request_check(session, target, "user/someone", datetime.now(UTC))
        observation = Observation(CheckMethod.CLOUDFORMATION, 1, 0, (seen,))
        drift.record_observation(session, check, observation, {"size": "small"}, datetime.now(UTC))


def _preview(portal: Portal, names: tuple[str, ...] = ENVIRONMENTS) -> str:
    """A READY preview moving ``names`` to 1.1, each renaming its bucket."""
    runtime = portal.runtime
    now = datetime.now(UTC)
    with runtime.db.session(write=True) as session:
        version = session.scalars(
            select(TemplateVersion).where(TemplateVersion.major == 1, TemplateVersion.minor == 1)
        ).one()
        planned = []
        for name in names:
            row = session.scalars(select(Environment).where(Environment.name == name)).one()
            planned.append(
                PlannedItem(
                    kind=fleet_previews.ENVIRONMENT, name=name, service_name=None,
                    target_arn=runtime.arns.environment(name),
                    basis=fleet_previews.basis_of(session, row),
                    template_version_id=version.id, target_major=1, target_minor=1,
                    spec=row.spec, inputs=dict(row.inputs or {}),
                )
            )  # fmt: skip
        preview = fleet_previews.create(
            session, planned, description="rename the buckets", created_by="robin",
            ttl=timedelta(hours=1), now=now,
        )  # fmt: skip
        preview_id = preview.id
        for item in fleet_previews.items_of(session, preview_id):
            plan = EnginePlan(
                ItemStatus.CHANGE, engine="cloudformation",
                change_set_id=f"arn:aws:cloudformation:us-east-1:123456789012:changeSet/p/{item.id}",
                changes=(RENAMED,), diff=(DIFF,),
            )  # fmt: skip
            assert fleet_previews.record_plan(session, item.id, plan)
        fleet_previews.finish(session, preview_id, now)
    return preview_id


def test_a_preview_shows_each_distinct_change_once_with_its_resources_and_risks(
    fleet: Portal,
) -> None:
    _drift_on(fleet, "dev3")
    preview_id = _preview(fleet)

    page = fleet.client.get(f"/portal/previews/{preview_id}")

    assert page.status_code == 200, page.text
    text = page.text
    # dev and dev2 change alike: one group; dev3's change overwrites its drift: another.
    assert text.count('class="card card-bad preview-group"') == 2
    assert "2 resource(s)" in text and "1 resource(s)" in text
    assert "environment dev</code>, <code>environment dev2" in text
    assert "DRIFT_OVERWRITE: overwrites drift" in text
    assert '<span class="status status-bad risk">REPLACEMENT: replaces a resource</span>' in text
    assert '<td class="status-bad">ReplaceAndDelete</td>' in text
    assert "<code>/Properties/BucketName</code>" in text
    assert '<span class="diff-add">+      BucketName: new-name</span>' in text
    assert 'id="approve-preview"' in text
    listed = fleet.client.get("/portal/previews")
    assert listed.status_code == 200
    assert f'href="/portal/previews/{preview_id}"' in listed.text
    assert "rename the buckets" in listed.text
    assert 'href="/portal/previews"' in listed.text  # the nav link


def test_approve_starts_the_previewed_deployments(fleet: Portal) -> None:
    preview_id = _preview(fleet)

    approved = fleet.post(f"/portal/previews/{preview_id}/approve")

    assert approved.status_code == 303
    with fleet.runtime.db.session() as session:
        started = session.scalars(
            select(Deployment).where(Deployment.fleet_preview_item_id.is_not(None))
        ).all()
        assert sorted(d.environment_name for d in started) == sorted(ENVIRONMENTS)
        assert session.get(FleetPreviewRow, preview_id).status == "APPROVED"
        # Each resource's update is audited as its own UpdateEnvironment would be.
        audited = session.scalars(
            select(AuditRecordRow.resources).where(
                AuditRecordRow.operation == "UpdateEnvironment",
                AuditRecordRow.result == "SUCCEEDED",
                AuditRecordRow.door == "PORTAL",
            )
        ).all()
        arns = fleet.runtime.arns
        assert sorted(audited) == sorted(arns.environment(name) for name in ENVIRONMENTS)
    page = fleet.client.get(f"/portal/previews/{preview_id}")
    assert "Approved: its deployments run exactly the previewed changes." in page.text
    assert 'id="approve-preview"' not in page.text


def test_a_stale_preview_says_why_and_its_approval_is_refused(fleet: Portal) -> None:
    preview_id = _preview(fleet, ("dev",))
    # Someone deploys dev by hand after the preview was planned.
    edited = fleet.post("/portal/environments/dev/upgrade/minor", {"major": "1", "minor": "1"})
    assert edited.status_code == 303, edited.text
    assert finish(fleet.runtime) == 1

    page = fleet.client.get(f"/portal/previews/{preview_id}")
    assert 'id="preview-stale"' in page.text
    assert "environment dev changed since the preview" in page.text
    assert 'id="approve-preview"' not in page.text
    refused = fleet.post(f"/portal/previews/{preview_id}/approve")
    assert refused.status_code == 303
    shown = fleet.client.get(f"/portal/previews/{preview_id}")
    assert "is stale" in shown.text and "Preview the change again" in shown.text
    with fleet.runtime.db.session() as session:
        assert session.get(FleetPreviewRow, preview_id).status == "STALE"


def test_a_viewer_sees_no_approve_and_is_refused_a_post(fleet: Portal) -> None:
    preview_id = _preview(fleet)
    _as(fleet, "vera", BuiltinRole.VIEWER)

    page = fleet.client.get(f"/portal/previews/{preview_id}")
    assert page.status_code == 200
    assert 'id="approve-preview"' not in page.text
    assert fleet.post(f"/portal/previews/{preview_id}/approve").status_code == 403
    with fleet.runtime.db.session() as session:
        assert session.get(FleetPreviewRow, preview_id).status == "READY"
