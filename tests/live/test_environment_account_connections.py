"""Environment account connections through boto3 against a real `baryon up`: an environment
account's key (``baryon keys create --account``) requests a connection, the management account
accepts it, and an environment created with it deploys its stack, and its service instance's,
into the environment account of the local cloud (read there through STS, as that account);
rejected and deleted connections stop deployments with Proton's errors; the 7 operations
answer as the model says (filters, pages, clientToken, tags)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from typing import Any

import boto3
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
    stack,
)
from tests.support.local_cloud import NO_RETRIES
from tests.support.processes import BaryonProcess, own_baryon

SUFFIX = uuid.uuid4().hex[:6]
ENV_TEMPLATE, SVC_TEMPLATE = f"xenv-{SUFFIX}", f"xsvc-{SUFFIX}"
MANAGEMENT = "123456789012"
ENVIRONMENT_ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
ROLE = "arn:aws:iam::{}:role/{}"

server = own_baryon("account-connections", env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.01"})


def _key_for(server: BaryonProcess, account: str) -> tuple[str, str]:
    """A key made the way an operator makes one, with the CLI."""
    done = subprocess.run(
        [
            *(sys.executable, "-m", "baryon.cli.main", "keys", "create"),
            *("--account", account, "--description", f"environment account {account}"),
            *("--data-dir", str(server.data_dir)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    printed = dict(line.split("=", 1) for line in done.stdout.split())
    return printed["AWS_ACCESS_KEY_ID"], printed["AWS_SECRET_ACCESS_KEY"]


def _client_of(server: BaryonProcess, key: tuple[str, str]) -> Any:
    return server.client("proton", aws_access_key_id=key[0], aws_secret_access_key=key[1])


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    return server.client("proton")


@pytest.fixture(scope="module")
def env_account(server: BaryonProcess) -> Any:
    return _client_of(server, _key_for(server, ENVIRONMENT_ACCOUNT))


@pytest.fixture(scope="module")
def other_account(server: BaryonProcess) -> Any:
    return _client_of(server, _key_for(server, OTHER_ACCOUNT))


@pytest.fixture(scope="module")
def registry(server: BaryonProcess, proton: Any) -> Registry:
    registry = Registry(proton, server.client("s3"))
    publish_environment_template(registry, ENV_TEMPLATE)
    publish_service_template(
        registry,
        SVC_TEMPLATE,
        [(ENV_TEMPLATE, "1")],
        service_bundle(pipeline=False),
        pipelineProvisioning="CUSTOMER_MANAGED",
    )
    return registry


def _cloudformation_in(server: BaryonProcess, account: str) -> Any:
    """A CloudFormation client acting in ``account`` of the local cloud: the local cloud's
    keys assume a role of that account, as Baryon does."""
    endpoint = server.cloud_endpoint
    region = server.exports["AWS_DEFAULT_REGION"]
    base = {"endpoint_url": endpoint, "region_name": region, "config": NO_RETRIES}
    sts = boto3.client("sts", aws_access_key_id="testing", aws_secret_access_key="testing", **base)
    credentials = sts.assume_role(
        RoleArn=ROLE.format(account, "test-reader"), RoleSessionName="test-reader"
    )["Credentials"]
    assert (
        boto3.client(
            "sts",
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            **base,
        ).get_caller_identity()["Account"]
        == account
    )
    return boto3.client(
        "cloudformation",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        **base,
    )


def _request(client: Any, environment: str, **extra: Any) -> dict[str, Any]:
    return client.create_environment_account_connection(
        environmentName=environment,
        managementAccountId=MANAGEMENT,
        roleArn=ROLE.format(ENVIRONMENT_ACCOUNT, "proton-env"),
        **extra,
    )["environmentAccountConnection"]


def _create_environment(proton: Any, name: str, connection_id: str) -> dict[str, Any]:
    return proton.create_environment(
        name=name,
        templateName=ENV_TEMPLATE,
        templateMajorVersion="1",
        spec=env_spec(),
        environmentAccountConnectionId=connection_id,
    )["environment"]


def test_an_accepted_connection_deploys_an_environment_and_its_instance_in_that_account(
    server: BaryonProcess, proton: Any, env_account: Any, registry: Registry
) -> None:
    env = f"acct{SUFFIX}"
    requested = _request(
        env_account,
        env,
        codebuildRoleArn=ROLE.format(ENVIRONMENT_ACCOUNT, "proton-codebuild"),
        componentRoleArn=ROLE.format(ENVIRONMENT_ACCOUNT, "proton-component"),
    )
    assert requested["status"] == "PENDING"
    assert (requested["environmentAccountId"], requested["managementAccountId"]) == (
        ENVIRONMENT_ACCOUNT,
        MANAGEMENT,
    )
    assert requested["arn"].endswith(f":environment-account-connection/{requested['id']}")
    # Pending: not usable yet.
    with pytest.raises(proton.exceptions.ValidationException) as caught:
        _create_environment(proton, env, requested["id"])
    assert "is PENDING" in error_message(caught)

    accepted = proton.accept_environment_account_connection(id=requested["id"])
    assert accepted["environmentAccountConnection"]["status"] == "CONNECTED"
    again = proton.accept_environment_account_connection(id=requested["id"])
    assert again["environmentAccountConnection"]["status"] == "CONNECTED"

    created = _create_environment(proton, env, requested["id"])
    assert created["environmentAccountId"] == ENVIRONMENT_ACCOUNT
    assert created["environmentAccountConnectionId"] == requested["id"]
    proton.get_waiter("environment_deployed").wait(name=env, WaiterConfig=FAST)

    in_environment_account = _cloudformation_in(server, ENVIRONMENT_ACCOUNT)
    in_management = server.client("cloudformation")
    deployed = stack(in_environment_account, "environment", env)
    assert deployed is not None and deployed["StackStatus"] == "CREATE_COMPLETE"
    assert f":{ENVIRONMENT_ACCOUNT}:stack/" in deployed["StackId"]
    assert stack(in_management, "environment", env) is None

    service = f"svc{SUFFIX}"
    proton.create_service(
        name=service,
        templateName=SVC_TEMPLATE,
        templateMajorVersion="1",
        spec=service_spec([("one", env, {"image": "nginx"})]),
    )
    instance = instance_settled(proton, service, "one")
    assert instance["deploymentStatus"] == "SUCCEEDED", instance.get("deploymentStatusMessage")
    assert stack(in_environment_account, "service-instance", service, "one") is not None
    assert stack(in_management, "service-instance", service, "one") is None

    # A connection in use cannot be rejected.
    with pytest.raises(proton.exceptions.ConflictException) as refused:
        proton.reject_environment_account_connection(id=requested["id"])
    assert f"used by environment(s) {env}" in error_message(refused)

    # Deleted by its environment account: the environment deploys nothing any more.
    env_account.delete_environment_account_connection(id=requested["id"])
    with pytest.raises(env_account.exceptions.ResourceNotFoundException):
        env_account.get_environment_account_connection(id=requested["id"])
    with pytest.raises(proton.exceptions.ValidationException) as stopped:
        proton.update_environment(name=env, deploymentType="CURRENT_VERSION", spec=env_spec())
    message = error_message(stopped)
    assert message.startswith("environmentAccountConnectionId: The environment account connection")
    assert "was deleted" in message
    # A service instance deployment stops on it too, in its deployment's status.
    proton.update_service_instance(
        serviceName=service,
        name="one",
        deploymentType="CURRENT_VERSION",
        spec=service_spec([("one", env, {"image": "httpd"})]),
    )
    stopped_instance = instance_settled(proton, service, "one")
    assert stopped_instance["deploymentStatus"] == "FAILED"
    assert "was deleted" in stopped_instance["deploymentStatusMessage"]

    # A new accepted connection of the same account brings it back.
    renewed = _request(env_account, env)
    proton.accept_environment_account_connection(id=renewed["id"])
    proton.update_environment(
        name=env, deploymentType="CURRENT_VERSION", environmentAccountConnectionId=renewed["id"]
    )
    proton.get_waiter("environment_deployed").wait(name=env, WaiterConfig=FAST)
    assert (
        proton.get_environment(name=env)["environment"]["environmentAccountConnectionId"]
        == (renewed["id"])
    )


def test_a_rejected_connection_is_over(proton: Any, env_account: Any, registry: Registry) -> None:
    env = f"rej{SUFFIX}"
    requested = _request(env_account, env)
    rejected = proton.reject_environment_account_connection(id=requested["id"])
    assert rejected["environmentAccountConnection"]["status"] == "REJECTED"
    with pytest.raises(proton.exceptions.ValidationException) as caught:
        _create_environment(proton, env, requested["id"])
    assert error_message(caught) == (
        f"environmentAccountConnectionId: the environment account connection "
        f"'{requested['id']}' is REJECTED; only an accepted (CONNECTED) connection can be used."
    )
    with pytest.raises(proton.exceptions.ConflictException):
        proton.accept_environment_account_connection(id=requested["id"])
    with pytest.raises(env_account.exceptions.ConflictException):
        env_account.update_environment_account_connection(
            id=requested["id"], roleArn=ROLE.format(ENVIRONMENT_ACCOUNT, "other")
        )
    # Over, so the environment account may ask again.
    assert _request(env_account, env)["status"] == "PENDING"


def test_a_connection_is_for_its_environment_only(
    proton: Any, env_account: Any, registry: Registry
) -> None:
    requested = _request(env_account, f"mine{SUFFIX}")
    proton.accept_environment_account_connection(id=requested["id"])
    with pytest.raises(proton.exceptions.ValidationException) as caught:
        _create_environment(proton, f"theirs{SUFFIX}", requested["id"])
    assert f"is for environment 'mine{SUFFIX}'" in error_message(caught)
    with pytest.raises(proton.exceptions.ValidationException) as both:
        proton.create_environment(
            name=f"mine{SUFFIX}",
            templateName=ENV_TEMPLATE,
            templateMajorVersion="1",
            spec=env_spec(),
            environmentAccountConnectionId=requested["id"],
            protonServiceRoleArn=ROLE.format(MANAGEMENT, "proton"),
        )
    assert error_message(both).startswith("protonServiceRoleArn:")


def test_an_environment_accounts_key_may_call_its_connections_and_nothing_else(
    proton: Any, env_account: Any, other_account: Any
) -> None:
    requested = _request(env_account, f"keys{SUFFIX}")
    with pytest.raises(env_account.exceptions.AccessDeniedException) as denied:
        env_account.list_environments()
    assert f"environment account {ENVIRONMENT_ACCOUNT}" in error_message(denied)
    with pytest.raises(env_account.exceptions.AccessDeniedException):
        env_account.accept_environment_account_connection(id=requested["id"])
    # The management account neither requests nor changes a connection.
    with pytest.raises(proton.exceptions.AccessDeniedException):
        _request(proton, f"keys{SUFFIX}")
    with pytest.raises(proton.exceptions.AccessDeniedException):
        proton.delete_environment_account_connection(id=requested["id"])
    # Another environment account does not see it.
    with pytest.raises(other_account.exceptions.ResourceNotFoundException):
        other_account.get_environment_account_connection(id=requested["id"])
    mine = env_account.get_environment_account_connection(id=requested["id"])
    assert mine["environmentAccountConnection"]["environmentName"] == f"keys{SUFFIX}"
    # Roles are the environment account's own.
    with pytest.raises(env_account.exceptions.ValidationException) as caught:
        env_account.update_environment_account_connection(
            id=requested["id"], roleArn=ROLE.format(OTHER_ACCOUNT, "elsewhere")
        )
    assert error_message(caught).startswith("roleArn: the role")
    updated = env_account.update_environment_account_connection(
        id=requested["id"], codebuildRoleArn=ROLE.format(ENVIRONMENT_ACCOUNT, "builds")
    )["environmentAccountConnection"]
    assert updated["codebuildRoleArn"] == ROLE.format(ENVIRONMENT_ACCOUNT, "builds")
    assert updated["roleArn"] == ROLE.format(ENVIRONMENT_ACCOUNT, "proton-env")


def test_create_is_idempotent_with_a_client_token(env_account: Any) -> None:
    env, token = f"tok{SUFFIX}", uuid.uuid4().hex
    first = _request(env_account, env, clientToken=token)
    assert _request(env_account, env, clientToken=token)["id"] == first["id"]
    with pytest.raises(env_account.exceptions.ValidationException):
        env_account.create_environment_account_connection(
            environmentName=env,
            managementAccountId=MANAGEMENT,
            roleArn=ROLE.format(ENVIRONMENT_ACCOUNT, "different"),
            clientToken=token,
        )
    # Without a token, a second open request for the same environment conflicts.
    with pytest.raises(env_account.exceptions.ConflictException):
        _request(env_account, env)


def test_lists_filter_by_side_environment_and_status_and_page(
    proton: Any, env_account: Any, other_account: Any
) -> None:
    prefix = f"lst{SUFFIX}"
    ids = [_request(env_account, f"{prefix}{i}")["id"] for i in range(3)]
    proton.accept_environment_account_connection(id=ids[0])
    pages = env_account.get_paginator("list_environment_account_connections").paginate(
        requestedBy="ENVIRONMENT_ACCOUNT", PaginationConfig={"PageSize": 1}
    )
    listed = [c for page in pages for c in page["environmentAccountConnections"]]
    mine = [c["id"] for c in listed if c["environmentName"].startswith(prefix)]
    assert mine == ids  # in the order they were requested, one per page
    assert "codebuildRoleArn" not in listed[0]  # a summary, as the model says
    pending = env_account.list_environment_account_connections(
        requestedBy="ENVIRONMENT_ACCOUNT", statuses=["PENDING"], environmentName=f"{prefix}1"
    )["environmentAccountConnections"]
    assert [c["id"] for c in pending] == [ids[1]]
    connected = proton.list_environment_account_connections(
        requestedBy="MANAGEMENT_ACCOUNT", statuses=["CONNECTED"]
    )["environmentAccountConnections"]
    assert ids[0] in {c["id"] for c in connected} and ids[1] not in {c["id"] for c in connected}
    # The management account requested none; another environment account sees none of these.
    assert not proton.list_environment_account_connections(requestedBy="ENVIRONMENT_ACCOUNT")[
        "environmentAccountConnections"
    ]
    assert not other_account.list_environment_account_connections(
        requestedBy="ENVIRONMENT_ACCOUNT"
    )["environmentAccountConnections"]


def test_a_connection_has_tags_like_every_resource(proton: Any, env_account: Any) -> None:
    requested = _request(env_account, f"tag{SUFFIX}", tags=[{"key": "team", "value": "net"}])
    arn = requested["arn"]
    assert proton.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"key": "team", "value": "net"}
    ]
    proton.tag_resource(resourceArn=arn, tags=[{"key": "cost", "value": "42"}])
    tags = proton.list_tags_for_resource(resourceArn=arn)["tags"]
    assert sorted(t["key"] for t in tags) == ["cost", "team"]
    env_account.delete_environment_account_connection(id=requested["id"])
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.list_tags_for_resource(resourceArn=arn)
