"""A fleet preview item's basis counts only the instance's own entry of its service's spec,
and its change overwrites drift when it touches a drifted property, replaces or removes the
drifted resource, or changes a resource that was deleted behind Baryon's back."""

from __future__ import annotations

import pytest

from baryon.domain.fleet_previews import ResourceChangeRecord, overwrites_drift, own_spec
from baryon.store.tables import DriftItemRow, ServiceInstance

SPEC = """\
proton: ServiceSpec
instances:
  - name: one
    environment: dev
    spec:
      timeout: {one}
  - name: two
    environment: dev
    spec:
      timeout: {two}
"""


def _instance(one: int, two: int) -> ServiceInstance:
    return ServiceInstance(name="one", spec=SPEC.format(one=one, two=two))


def test_an_instances_own_spec_ignores_the_other_instances_entries() -> None:
    assert own_spec(_instance(30, 60)) == own_spec(_instance(30, 90))
    assert own_spec(_instance(30, 60)) != own_spec(_instance(45, 60))
    assert own_spec(_instance(30, 60)) == {"environment": "dev", "spec": {"timeout": 30}}


def test_a_spec_that_does_not_parse_counts_whole() -> None:
    assert own_spec(ServiceInstance(name="one", spec="instances: [")) == "instances: ["


Q, TF = "Queue", "aws_sqs_queue.q"
VT, VTS = "/VisibilityTimeout", "/visibility_timeout_seconds"


def _drift(logical_id: str, path: str) -> DriftItemRow:
    return DriftItemRow(logical_id=logical_id, path=path)


@pytest.mark.parametrize(
    ("action", "logical_id", "path", "replacement", "drifted", "overwrites"),
    [
        ("Modify", Q, "/Properties/VisibilityTimeout", "False", _drift(Q, VT), True),
        ("Modify", Q, "/Properties/Tags", "False", _drift(Q, "/Tags/0/Value"), True),
        ("Modify", Q, "/Properties/DelaySeconds", "False", _drift(Q, VT), False),
        ("Modify", "Other", "/Properties/VisibilityTimeout", "False", _drift(Q, VT), False),
        ("Modify", Q, "/Properties/QueueName", "True", _drift(Q, VT), True),
        ("Remove", Q, None, None, _drift(Q, VT), True),
        ("Modify", Q, "/Properties/DelaySeconds", "False", _drift(Q, "/"), True),
        ("update", TF, "/visibility_timeout_seconds", None, _drift(TF, VTS), True),
        ("update", TF, "/delay_seconds", None, _drift(TF, VTS), False),
    ],
    ids=["same-property", "nested-path", "other-property", "other-resource", "replacement",
         "removal", "deleted-resource", "terraform-attribute", "terraform-other-attribute"],
)  # fmt: skip
def test_a_change_overwrites_drift_it_touches(
    action: str,
    logical_id: str,
    path: str | None,
    replacement: str | None,
    drifted: DriftItemRow,
    overwrites: bool,
) -> None:
    change = ResourceChangeRecord(
        action, logical_id, "AWS::SQS::Queue", replacement=replacement,
        paths=(path,) if path else (),
    )  # fmt: skip
    assert overwrites_drift([change], [drifted]) is overwrites
