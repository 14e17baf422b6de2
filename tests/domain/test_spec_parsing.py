"""A spec is parsed once per request, where the request arrives, and the worker parses only
what it must, once per deployment.

Requests run through the same operation functions as the API's, in process, on a private
SQLite database; each deployment then goes through what a worker does with it short of the
cloud: it reads the plan and renders (engine.deploy), and records success (domain.outcomes).
Every YAML parse of a spec goes through `baryon.domain.specs.load_yaml`, which the test
counts (with the parsed-spec cache emptied, so that a cached parse cannot hide a second one).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from baryon.bundles import yaml_source
from baryon.domain import outcomes, specs
from baryon.engine import deploy
from baryon.operations import environments as environment_operations
from baryon.operations import in_process
from baryon.operations import service_instances as instance_operations
from baryon.operations import services as service_operations
from baryon.runtime import Runtime
from baryon.store.tables import Deployment, Service
from tests.support.principals import ADMIN

ROLE = "arn:aws:iam::111122223333:role/proton-service-role"
REPOSITORY = {
    "repositoryConnectionArn": "arn:aws:codestar-connections:us-east-1:111122223333:connection/x",
    "repositoryId": "org/web",
    "branchName": "main",
}
SERVICE_SPEC = (
    "proton: ServiceSpec\n"
    "pipeline:\n  dockerfile: Dockerfile\n"
    "instances:\n"
    "  - name: one\n    environment: dev\n    spec:\n      port: 8080\n"
    "  - name: two\n    environment: dev\n"
)


class Parses:
    """Spec texts parsed as YAML, in order."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def reset(self) -> None:
        self.texts.clear()
        specs._parsed_service_spec.cache_clear()

    def by_text(self) -> Counter[str]:
        return Counter(self.texts)


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Parses:
    seen = Parses()

    def counted(text: str, *args: Any, **kwargs: Any) -> Any:
        seen.texts.append(text)
        return yaml_source.load_yaml(text, *args, **kwargs)

    monkeypatch.setattr(specs, "load_yaml", counted)
    seen.reset()
    return seen


def _call(runtime: Runtime, operation: Any, name: str, request: dict[str, Any]) -> Any:
    return operation(in_process.context(runtime, "portal:robin", name, principal=ADMIN), request)


def _work_off(runtime: Runtime) -> int:
    """Each deployment in flight read, rendered and recorded as a worker would (no cloud);
    returns how many ran. A service's pipeline runs once its instances have."""
    ran = 0
    while True:
        with runtime.db.session() as session:
            queued = [
                row
                for row in session.scalars(
                    select(Deployment)
                    .where(Deployment.status == "IN_PROGRESS")
                    .order_by(Deployment.created_at, Deployment.id)
                )
            ]
            waiting = {
                (service.operation or {}).get("pipeline")
                for service in session.scalars(select(Service))
            }
            ready = [row.id for row in queued if row.id not in waiting]
            for deployment in queued:
                if deployment.id in ready:
                    work = deploy._prepare(session, runtime, deployment)
                    if work.target is not None:
                        assert work.target.render().files
        if not ready:
            return ran
        for deployment_id in ready:
            with runtime.db.session(write=True) as session:
                outcomes.record(
                    session,
                    runtime.arns,
                    deployment_id,
                    outcomes.Result("SUCCEEDED", outputs={"BucketName": "b", "Port": "80"}),
                    datetime.now(UTC),
                )
            ran += 1


ENV_SPEC = "proton: EnvironmentSpec\nspec:\n  size: large\n"


def _environment(runtime: Runtime, spec: str = ENV_SPEC) -> None:
    _call(
        runtime,
        environment_operations.create_environment,
        "CreateEnvironment",
        {
            "name": "dev",
            "templateName": "network",
            "templateMajorVersion": "1",
            "spec": spec,
            "protonServiceRoleArn": ROLE,
        },
    )


def test_create_service_with_two_instances_parses_its_spec_once(
    runtime: Runtime, parses: Parses
) -> None:
    _environment(runtime)
    assert _work_off(runtime) == 1
    parses.reset()

    _call(
        runtime,
        service_operations.create_service,
        "CreateService",
        {
            "name": "web",
            "templateName": "webapp",
            "templateMajorVersion": "1",
            "spec": SERVICE_SPEC,
            **REPOSITORY,
        },
    )
    # Two instances and a pipeline checked and planned from one parse.
    assert parses.texts == [SERVICE_SPEC]

    parses.reset()
    assert _work_off(runtime) == 3
    # The plans carry the inputs: rendering and recording three deployments parse nothing.
    assert parses.texts == []


def test_an_instance_update_parses_its_spec_once_and_the_worker_once(
    runtime: Runtime, parses: Parses
) -> None:
    _environment(runtime)
    _work_off(runtime)
    _call(
        runtime,
        service_operations.create_service,
        "CreateService",
        {
            "name": "web",
            "templateName": "webapp",
            "templateMajorVersion": "1",
            "spec": SERVICE_SPEC,
            **REPOSITORY,
        },
    )
    _work_off(runtime)
    update = SERVICE_SPEC.replace(
        "      port: 8080\n", "      port: ${Proton::CURRENT_VAL}\n      image: httpd\n"
    )
    parses.reset()

    _call(
        runtime,
        instance_operations.update_service_instance,
        "UpdateServiceInstance",
        {
            "serviceName": "web",
            "name": "one",
            "deploymentType": "CURRENT_VERSION",
            "spec": update,
        },
    )
    # Read once; ${Proton::CURRENT_VAL} is resolved into the stored text from that reading.
    assert parses.texts == [update]

    parses.reset()
    assert _work_off(runtime) == 1
    # On success the service's spec takes the instance's new entry: the deployed spec and the
    # service's own are each read once, and nothing else is.
    assert len(parses.texts) == 2
    assert set(parses.by_text().values()) == {1}
    with runtime.db.session() as session:
        service = session.scalars(select(Service)).one()
        entries = yaml.safe_load(service.spec)["instances"]
    assert entries[0]["spec"] == {"port": 8080, "image": "httpd"}


def test_environment_requests_parse_their_spec_once(runtime: Runtime, parses: Parses) -> None:
    spec = "proton: EnvironmentSpec\nspec:\n  size: large\n"
    _environment(runtime, spec)
    assert parses.texts == [spec]
    parses.reset()
    assert _work_off(runtime) == 1
    assert parses.texts == []

    update = "proton: EnvironmentSpec\nspec:\n  size: ${Proton::CURRENT_VAL}\n"
    _call(
        runtime,
        environment_operations.update_environment,
        "UpdateEnvironment",
        {"name": "dev", "deploymentType": "CURRENT_VERSION", "spec": update},
    )
    assert parses.texts == [update]
    parses.reset()
    assert _work_off(runtime) == 1
    assert parses.texts == []
