"""The namespaces each kind of template sees (reference section 3.2), key for key."""

from __future__ import annotations

from baryon.render import (
    component_namespace,
    environment_namespace,
    instance_namespace,
    pipeline_namespace,
)
from tests.render.fixtures import (
    ACCOUNT,
    COMPONENT,
    ENVIRONMENT,
    INSTANCE,
    INSTANCE_WITH_COMPONENT,
    SERVICE,
)

ENVIRONMENT_OUTPUTS = {
    "account_id": ACCOUNT,
    "name": "dev",
    "outputs": {"ClusterName": "c1", "VpcId": "vpc-1"},
}
SERVICE_KEYS = {
    "name": "web",
    "repository_connection_arn": SERVICE.repository_connection_arn,
    "repository_id": "org/app",
    "branch_name": "main",
}


def test_environment_namespace() -> None:
    assert environment_namespace(ENVIRONMENT) == {
        "environment": {"name": "dev", "inputs": ENVIRONMENT.inputs}
    }


def test_instance_namespace() -> None:
    assert instance_namespace(SERVICE, INSTANCE_WITH_COMPONENT) == {
        "environment": ENVIRONMENT_OUTPUTS,
        "service": SERVICE_KEYS,
        "service_instance": {
            "name": "prod",
            "inputs": {"port": 80, "task_size": "x-small"},
            "environment": ENVIRONMENT_OUTPUTS,
            "components": {"default": {"name": "bucket", "outputs": COMPONENT.outputs}},
        },
    }
    assert instance_namespace(SERVICE, INSTANCE)["service_instance"]["components"] == {}


def test_pipeline_namespace() -> None:
    assert pipeline_namespace(SERVICE, {"dockerfile": "Dockerfile"}, [INSTANCE]) == {
        "pipeline": {"inputs": {"dockerfile": "Dockerfile"}},
        "service": SERVICE_KEYS,
        "service_instances": [
            {
                "name": "prod",
                "inputs": {"port": 80, "task_size": "x-small"},
                "outputs": {"Url": "https://x"},
                "environment": ENVIRONMENT_OUTPUTS,
            }
        ],
    }


def test_component_namespace() -> None:
    assert component_namespace("bucket", ENVIRONMENT) == {
        "component": {"name": "bucket"},
        "environment": ENVIRONMENT_OUTPUTS,
    }
    attached = component_namespace("bucket", ENVIRONMENT, SERVICE, INSTANCE)
    assert attached["service"] == {"name": "web"}
    assert attached["service_instance"] == {
        "name": "prod",
        "inputs": {"port": 80, "task_size": "x-small"},
    }
    assert "inputs" not in attached["component"]  # components have no inputs of their own


def test_service_without_repository_gets_empty_strings() -> None:
    namespace = instance_namespace(type(SERVICE)("web"), INSTANCE)
    assert namespace["service"] == {
        "name": "web",
        "repository_connection_arn": "",
        "repository_id": "",
        "branch_name": "",
    }


def test_outputs_are_sorted_and_inputs_keep_their_order() -> None:
    instance = type(INSTANCE)("i", {"z": 1, "a": 2}, {"Z": "1", "A": "2"}, ENVIRONMENT)
    namespace = pipeline_namespace(SERVICE, {}, [instance])
    (item,) = namespace["service_instances"]
    assert list(item["inputs"]) == ["z", "a"]
    assert list(item["outputs"]) == ["A", "Z"]


def test_namespaces_do_not_share_state_with_the_refs() -> None:
    namespace = environment_namespace(ENVIRONMENT)
    namespace["environment"]["inputs"]["zones"].append("c")
    assert ENVIRONMENT.inputs["zones"] == ["a", "b"]
