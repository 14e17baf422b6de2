"""Scoped keys on a real store: they authenticate while live, expire and are revoked by
themselves, and allow only calls on their own resource."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from baryon.auth.access_keys import create_access_key
from baryon.auth.scoped_access import may_call
from baryon.auth.scoped_keys import CallerKeys, KeyHolder, ScopedKeys
from baryon.runtime import Runtime, build_runtime
from baryon.settings import Settings

ENV_ARN = "arn:aws:proton:us-east-1:123456789012:environment/dev"
PIPELINE_ARN = "arn:aws:proton:us-east-1:123456789012:service/web/pipeline"
INSTANCE_ARN = "arn:aws:proton:us-east-1:123456789012:service/web/service-instance/one"


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = build_runtime(Settings(data_dir=tmp_path))
    yield runtime
    runtime.close()


def test_a_live_scoped_key_signs_as_its_resource_until_it_is_revoked(runtime: Runtime) -> None:
    keys, callers = ScopedKeys(runtime.db, runtime.box), CallerKeys(runtime.db, runtime.box)
    key = keys.issue(ENV_ARN, 600)
    assert callers.secret(key.access_key_id) == key.secret_access_key
    assert callers.holder(key.access_key_id) == KeyHolder(key.access_key_id, ENV_ARN)
    assert callers.scoped_resource(key.access_key_id, key.secret_access_key) == ENV_ARN
    assert callers.scoped_resource(key.access_key_id, "a guess") is None
    keys.revoke(key.access_key_id)
    assert callers.secret(key.access_key_id) is None
    assert callers.holder(key.access_key_id) is None


def test_an_expired_scoped_key_is_refused_and_swept_by_the_next_issue(runtime: Runtime) -> None:
    keys, callers = ScopedKeys(runtime.db, runtime.box), CallerKeys(runtime.db, runtime.box)
    expired = keys.issue(ENV_ARN, -1)
    assert callers.secret(expired.access_key_id) is None
    assert callers.scoped_resource(expired.access_key_id, expired.secret_access_key) is None
    keys.issue(ENV_ARN, 600)
    with runtime.db.engine.connect() as connection:
        ids = connection.execute(text("SELECT access_key_id FROM scoped_access_keys")).scalars()
        assert expired.access_key_id not in list(ids)


def test_an_operators_key_is_scoped_to_nothing(runtime: Runtime) -> None:
    callers = CallerKeys(runtime.db, runtime.box)
    operator = create_access_key(runtime.db, runtime.box, "operator")
    assert callers.secret(operator.access_key_id) == operator.secret_access_key
    assert callers.holder(operator.access_key_id) == KeyHolder(operator.access_key_id, None)
    assert callers.scoped_resource(operator.access_key_id, operator.secret_access_key) is None


@pytest.mark.parametrize(
    ("arn", "operation", "params", "allowed"),
    [
        (ENV_ARN, "NotifyResourceDeploymentStatusChange", {"resourceArn": ENV_ARN}, True),
        (ENV_ARN, "NotifyResourceDeploymentStatusChange", {"resourceArn": PIPELINE_ARN}, False),
        (ENV_ARN, "GetEnvironment", {"name": "dev"}, True),
        (ENV_ARN, "GetEnvironment", {"name": "prod"}, False),
        (ENV_ARN, "ListEnvironmentOutputs", {"environmentName": "dev"}, True),
        (ENV_ARN, "UpdateEnvironment", {"name": "dev"}, False),
        (ENV_ARN, "DeleteEnvironment", {"name": "dev"}, False),
        (ENV_ARN, "ListEnvironments", {}, False),
        (PIPELINE_ARN, "GetService", {"name": "web"}, True),
        (PIPELINE_ARN, "GetService", {"name": "api"}, False),
        (PIPELINE_ARN, "ListServicePipelineOutputs", {"serviceName": "web"}, True),
        (PIPELINE_ARN, "UpdateServiceInstance", {"serviceName": "web", "name": "one"}, False),
        (INSTANCE_ARN, "GetServiceInstance", {"serviceName": "web", "name": "one"}, True),
        (INSTANCE_ARN, "GetServiceInstance", {"serviceName": "web", "name": "two"}, False),
        (INSTANCE_ARN, "ListServicePipelineOutputs", {"serviceName": "web"}, False),
        # An instance that is not (or no longer) in the store has no environment to read.
        (INSTANCE_ARN, "GetEnvironment", {"name": "dev"}, False),
    ],
)
def test_a_scoped_key_may_call_only_on_its_own_resource(
    runtime: Runtime, arn: str, operation: str, params: dict[str, str], allowed: bool
) -> None:
    assert may_call(runtime.db, arn, operation, params) is allowed
