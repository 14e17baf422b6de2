"""GetResourcesSummary on a real `baryon up`, counted after each of a controlled set of
changes: new versions make resources stale, updates make them current, failures count."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import WaiterError

from tests.support.bundles import ENV_CFN, Registry, env_bundle, service_bundle
from tests.support.deploying import (
    FAST,
    REPO,
    env_spec,
    instance_settled,
    publish_environment_template,
    publish_service_template,
    service_spec,
)
from tests.support.processes import BaryonProcess, own_baryon

SUFFIX = uuid.uuid4().hex[:6]
ENV_TEMPLATE, BROKEN_TEMPLATE = f"cenv-{SUFFIX}", f"cbroken-{SUFFIX}"
SVC_TEMPLATE, BARE_TEMPLATE = f"csvc-{SUFFIX}", f"cbare-{SUFFIX}"


server = own_baryon("resources-summary", env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.01"})


def _counts(proton: Any) -> dict[str, dict[str, int]]:
    return proton.get_resources_summary()["counts"]


def _staleness(total: int, failed: int, up: int, minor: int, major: int) -> dict[str, int]:
    return {
        "total": total,
        "failed": failed,
        "upToDate": up,
        "behindMinor": minor,
        "behindMajor": major,
    }


def test_counts_follow_versions_updates_and_failures(server: BaryonProcess) -> None:
    proton = server.client("proton")
    registry = Registry(proton, server.client("s3"))
    empty = _counts(proton)
    assert empty["environments"] == _staleness(0, 0, 0, 0, 0)
    assert empty["services"] == _staleness(0, 0, 0, 0, 0)
    assert empty["components"] == {"total": 0, "failed": 0}
    assert empty["environmentTemplates"] == {"total": 0}

    publish_environment_template(registry, ENV_TEMPLATE)
    publish_service_template(registry, SVC_TEMPLATE, [(ENV_TEMPLATE, "1")])
    publish_service_template(
        registry,
        BARE_TEMPLATE,
        [(ENV_TEMPLATE, "1")],
        service_bundle(pipeline=False),
        pipelineProvisioning="CUSTOMER_MANAGED",
    )
    env1, env2 = f"one{SUFFIX}", f"two{SUFFIX}"
    for env in (env1, env2):
        proton.create_environment(
            protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
            name=env,
            templateName=ENV_TEMPLATE,
            templateMajorVersion="1",
            spec=env_spec(),
        )
    for env in (env1, env2):
        proton.get_waiter("environment_deployed").wait(name=env, WaiterConfig=FAST)
    web, worker = f"web-{SUFFIX}", f"worker-{SUFFIX}"
    proton.create_service(
        name=web,
        templateName=SVC_TEMPLATE,
        templateMajorVersion="1",
        spec=service_spec([("i1", env1, None), ("i2", env1, None)], pipeline={}),
        **REPO,
    )
    proton.create_service(
        name=worker,
        templateName=BARE_TEMPLATE,
        templateMajorVersion="1",
        spec=service_spec([("n1", env2, None)]),
    )
    for service in (web, worker):
        proton.get_waiter("service_created").wait(name=service, WaiterConfig=FAST)
    counts = _counts(proton)
    assert counts["environmentTemplates"] == {"total": 1}
    assert counts["serviceTemplates"] == {"total": 2}
    assert counts["environments"] == _staleness(2, 0, 2, 0, 0)
    assert counts["serviceInstances"] == _staleness(3, 0, 3, 0, 0)
    assert counts["pipelines"] == _staleness(1, 0, 1, 0, 0)
    assert counts["services"] == _staleness(2, 0, 2, 0, 0)

    # A new environment minor version: both behind; one updated.
    publish_environment_template(registry, ENV_TEMPLATE, env_bundle(), major="1")
    assert _counts(proton)["environments"] == _staleness(2, 0, 0, 2, 0)
    proton.update_environment(name=env1, deploymentType="MINOR_VERSION")
    proton.get_waiter("environment_deployed").wait(name=env1, WaiterConfig=FAST)
    assert _counts(proton)["environments"] == _staleness(2, 0, 1, 1, 0)

    # A new service minor version: web's instances and pipeline fall behind, so does web.
    publish_service_template(registry, SVC_TEMPLATE, [(ENV_TEMPLATE, "1")], major="1")
    counts = _counts(proton)
    assert counts["serviceInstances"] == _staleness(3, 0, 1, 2, 0)
    assert counts["pipelines"] == _staleness(1, 0, 0, 1, 0)
    assert counts["services"] == _staleness(2, 0, 1, 1, 0)
    proton.update_service_instance(serviceName=web, name="i1", deploymentType="MINOR_VERSION")
    assert instance_settled(proton, web, "i1")["deploymentStatus"] == "SUCCEEDED"
    counts = _counts(proton)
    assert counts["serviceInstances"] == _staleness(3, 0, 2, 1, 0)
    assert counts["services"] == _staleness(2, 0, 1, 1, 0)  # i2 and the pipeline still behind

    # A new service major version: everything of web is a major version behind.
    publish_service_template(registry, SVC_TEMPLATE, [(ENV_TEMPLATE, "1")])
    counts = _counts(proton)
    assert counts["serviceInstances"] == _staleness(3, 0, 1, 0, 2)
    assert counts["pipelines"] == _staleness(1, 0, 0, 0, 1)
    assert counts["services"] == _staleness(2, 0, 1, 0, 1)

    # Failures: an environment the cloud refuses, a service whose instance cannot render.
    broken = env_bundle()
    broken["infrastructure/cloudformation.yaml"] = ENV_CFN.replace(
        "BucketName: '{{ environment.name }}-artifacts'", "BucketName: !Ref Missing"
    )
    publish_environment_template(registry, BROKEN_TEMPLATE, broken)
    env3 = f"three{SUFFIX}"
    proton.create_environment(
        protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
        name=env3,
        templateName=BROKEN_TEMPLATE,
        templateMajorVersion="1",
        spec=env_spec(),
    )
    with pytest.raises(WaiterError, match="FAILED"):
        proton.get_waiter("environment_deployed").wait(name=env3, WaiterConfig=FAST)
    failing = f"failing-{SUFFIX}"
    proton.create_service(
        name=failing,
        templateName=BARE_TEMPLATE,
        templateMajorVersion="1",
        spec=service_spec([("f1", env2, {"image": "it's"})]),
    )
    with pytest.raises(WaiterError, match="CREATE_FAILED"):
        proton.get_waiter("service_created").wait(name=failing, WaiterConfig=FAST)

    assert _counts(proton) == {
        "environmentTemplates": {"total": 2},
        "serviceTemplates": {"total": 2},
        "environments": _staleness(3, 1, 2, 1, 0),
        "serviceInstances": _staleness(4, 1, 2, 0, 2),
        "pipelines": _staleness(1, 0, 0, 0, 1),
        "services": _staleness(3, 1, 2, 0, 1),
        "components": {"total": 0, "failed": 0},
    }
