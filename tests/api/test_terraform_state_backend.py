"""Baryon's Terraform HTTP state backend, spoken to as Terraform speaks to it (basic auth with
a resource's scoped key, LOCK/UNLOCK as POSTs, ?ID= on writes), on a real store."""

from __future__ import annotations

import base64
import json
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from starlette.applications import Starlette

from baryon.api.terraform_state_backend import terraform_state_routes
from baryon.auth.access_keys import create_access_key
from baryon.auth.scoped_keys import CallerKeys, ScopedKeys
from baryon.operations.terraform_state import TerraformStates
from baryon.runtime import Runtime, build_runtime
from baryon.settings import Settings
from baryon.store.tables import Deployment, TerraformStateVersion

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note that its TestClient prefers httpx2
    from starlette.testclient import TestClient

ARN = "arn:aws:proton:us-east-1:123456789012:environment/dev"
OTHER_ARN = "arn:aws:proton:us-east-1:123456789012:environment/prod"


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = build_runtime(Settings(data_dir=tmp_path))
    yield runtime
    runtime.close()


@pytest.fixture
def states(runtime: Runtime) -> TerraformStates:
    return TerraformStates(runtime.db, runtime.box)


@pytest.fixture
def client(runtime: Runtime, states: TerraformStates) -> Iterator[TestClient]:
    routes = terraform_state_routes(
        runtime, states, CallerKeys(runtime.db, runtime.box).scoped_resource
    )
    key = ScopedKeys(runtime.db, runtime.box).issue(ARN, 600)
    with TestClient(Starlette(routes=routes)) as client:
        client.headers["Authorization"] = _basic(key.access_key_id, key.secret_access_key)
        yield client


def _basic(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


def _scoped(runtime: Runtime, arn: str) -> dict[str, str]:
    key = ScopedKeys(runtime.db, runtime.box).issue(arn, 600)
    return {"Authorization": _basic(key.access_key_id, key.secret_access_key)}


def _url(kind: str, arn: str = ARN) -> str:
    return f"/_baryon/terraform/{kind}/{quote(arn, safe='')}"


def _lock_info(lock_id: str) -> str:
    return json.dumps({"ID": lock_id, "Operation": "OperationTypeApply", "Who": "run@worker"})


def _state(serial: int) -> str:
    return json.dumps({"version": 4, "serial": serial, "lineage": "l-1", "outputs": {}})


def _deployment(runtime: Runtime, deployment_id: str, status: str) -> None:
    now = datetime.now(UTC)
    with runtime.db.session(write=True) as session:
        session.add(
            Deployment(
                id=deployment_id,
                target_type="ENVIRONMENT",
                target_arn=ARN,
                operation="DEPLOY",
                environment_name="dev",
                status=status,
                plan={},
                target_resource_created_at=now,
                created_at=now,
                last_modified_at=now,
            )
        )


def test_a_resource_without_state_answers_no_content(client: TestClient) -> None:
    assert client.get(_url("state")).status_code == 204


def test_every_written_version_is_kept_and_the_latest_is_read(
    client: TestClient, states: TerraformStates
) -> None:
    assert client.post(_url("lock") + "?holder=d-1", content=_lock_info("L1")).status_code == 200
    for serial in (1, 2, 3):
        answer = client.post(_url("state") + "?ID=L1", content=_state(serial))
        assert answer.status_code == 200
    assert json.loads(client.get(_url("state")).text)["serial"] == 3
    assert states.version_numbers(ARN) == [1, 2, 3]
    first = states.version(ARN, 1)
    assert first is not None and json.loads(first.state)["serial"] == 1
    assert first.written_by == "d-1"


def test_state_is_encrypted_at_rest(client: TestClient, runtime: Runtime) -> None:
    client.post(_url("state"), content=json.dumps({"serial": 1, "secret": "hunter2-value"}))
    with runtime.db.session() as session:
        row = session.query(TerraformStateVersion).one()
        assert b"hunter2-value" not in row.state_ciphertext
        assert "hunter2-value" in runtime.box.open(row.state_ciphertext)


def test_a_second_lock_is_refused_with_the_holders_info(client: TestClient) -> None:
    assert client.post(_url("lock") + "?holder=d-1", content=_lock_info("L1")).status_code == 200
    refused = client.post(_url("lock") + "?holder=d-2", content=_lock_info("L2"))
    assert refused.status_code == 423
    assert refused.json()["ID"] == "L1"


def test_a_write_without_the_held_lock_is_refused(client: TestClient) -> None:
    client.post(_url("lock") + "?holder=d-1", content=_lock_info("L1"))
    assert client.post(_url("state") + "?ID=L2", content=_state(1)).status_code == 423
    assert client.post(_url("state"), content=_state(1)).status_code == 423
    assert client.get(_url("state")).status_code == 204


def test_a_write_from_a_run_whose_lock_was_released_is_refused(client: TestClient) -> None:
    client.post(_url("lock") + "?holder=d-1", content=_lock_info("L1"))
    assert client.post(_url("unlock"), content=_lock_info("L1")).status_code == 200
    assert client.post(_url("state") + "?ID=L1", content=_state(1)).status_code == 423


def test_unlocking_someone_elses_lock_is_refused_and_unlocking_twice_is_harmless(
    client: TestClient,
) -> None:
    client.post(_url("lock") + "?holder=d-1", content=_lock_info("L1"))
    assert client.post(_url("unlock"), content=_lock_info("L2")).status_code == 423
    assert client.post(_url("unlock"), content=_lock_info("L1")).status_code == 200
    assert client.post(_url("unlock"), content=_lock_info("L1")).status_code == 200
    assert client.post(_url("lock") + "?holder=d-2", content=_lock_info("L2")).status_code == 200


def test_lock_info_without_an_id_is_a_bad_request(client: TestClient) -> None:
    assert client.post(_url("lock"), content="{}").status_code == 400
    assert client.post(_url("lock"), content="not json").status_code == 400


def test_a_key_scoped_to_another_resource_is_refused(client: TestClient, runtime: Runtime) -> None:
    other = _scoped(runtime, OTHER_ARN)
    assert client.get(_url("state"), headers=other).status_code == 403
    assert client.post(_url("lock"), content=_lock_info("L"), headers=other).status_code == 403
    assert client.get(_url("state", OTHER_ARN), headers=other).status_code == 204


def test_a_wrong_secret_or_a_revoked_key_is_refused(client: TestClient, runtime: Runtime) -> None:
    keys = ScopedKeys(runtime.db, runtime.box)
    key = keys.issue(ARN, 600)
    assert (
        client.get(
            _url("state"), headers={"Authorization": _basic(key.access_key_id, "guess")}
        ).status_code
        == 403
    )
    good = {"Authorization": _basic(key.access_key_id, key.secret_access_key)}
    assert client.get(_url("state"), headers=good).status_code == 204
    keys.revoke(key.access_key_id)
    assert client.get(_url("state"), headers=good).status_code == 403


def test_an_operators_key_is_refused_the_state_is_for_runs_only(
    client: TestClient, runtime: Runtime
) -> None:
    key = create_access_key(runtime.db, runtime.box, "operator")
    operator = {"Authorization": _basic(key.access_key_id, key.secret_access_key)}
    assert client.get(_url("state", OTHER_ARN), headers=operator).status_code == 403


def test_a_request_without_credentials_is_asked_for_them(client: TestClient) -> None:
    answer = client.get(_url("state"), headers={"Authorization": ""})
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Basic")


def test_a_deployment_resumed_after_a_crash_takes_over_its_own_lock(
    client: TestClient, states: TerraformStates, runtime: Runtime
) -> None:
    _deployment(runtime, "d-1", "IN_PROGRESS")
    client.post(_url("lock") + "?holder=d-1", content=_lock_info("L1"))
    taken = states.take_over(ARN, "d-1")
    assert taken.released_from == "d-1" and taken.held_by is None
    assert client.post(_url("lock") + "?holder=d-1", content=_lock_info("L9")).status_code == 200


def test_a_live_deployments_lock_is_not_taken_over_but_an_ended_ones_is(
    client: TestClient, states: TerraformStates, runtime: Runtime
) -> None:
    _deployment(runtime, "d-live", "IN_PROGRESS")
    client.post(_url("lock") + "?holder=d-live", content=_lock_info("L1"))
    kept = states.take_over(ARN, "d-other")
    assert kept.held_by == "d-live" and kept.released_from is None
    with runtime.db.session(write=True) as session:
        deployment = session.get(Deployment, "d-live")
        assert deployment is not None
        deployment.status = "FAILED"
    released = states.take_over(ARN, "d-other")
    assert released.released_from == "d-live"
    assert states.take_over(ARN, "d-other") == released.__class__(None, None)


def test_a_plan_is_kept_with_its_deployment(states: TerraformStates, runtime: Runtime) -> None:
    _deployment(runtime, "d-1", "IN_PROGRESS")
    states.save_plan("d-1", "1 to add, 0 to change, 0 to destroy", '{"a": 1}')
    states.save_plan("d-1", "2 to add, 0 to change, 0 to destroy", '{"a": 2}')
    saved = states.plan("d-1")
    assert saved is not None and saved.summary.startswith("2 to add")
    assert json.loads(saved.plan_json) == {"a": 2}
