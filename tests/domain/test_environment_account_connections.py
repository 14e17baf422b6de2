"""Environment account connections in the domain: Proton's lifecycle (PENDING, CONNECTED,
REJECTED), who may do what, which connections an environment may name, and where (and as
which roles) a connected environment deploys; and what an environment account's key may call."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from baryon.auth import account_access
from baryon.auth.access_keys import create_access_key, list_access_keys
from baryon.domain import environment_account_connections as connections
from baryon.domain import environments
from baryon.domain.environment_account_connections import (
    ConnectionRoles,
    ConnectionUnavailable,
    NewConnection,
)
from baryon.domain.environments import EnvironmentSettings
from baryon.domain.errors import Conflict, InvalidInput, NotFound
from baryon.runtime import Runtime
from baryon.service_models.proton import DeploymentUpdateType
from baryon.store.tables import EnvironmentAccountConnectionRow
from tests.support.deploying import env_spec

NOW = datetime(2026, 1, 2, tzinfo=UTC)
MANAGEMENT, ENVIRONMENT_ACCOUNT = "123456789012", "111122223333"


def _role(name: str, account: str = ENVIRONMENT_ACCOUNT) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def _request(runtime: Runtime, environment: str = "dev", **roles: str) -> str:
    with runtime.db.session(write=True) as session:
        row = connections.create_connection(
            session,
            runtime.arns,
            caller_account=ENVIRONMENT_ACCOUNT,
            new=NewConnection(
                environment, MANAGEMENT, ConnectionRoles(role_arn=_role("deployer"), **roles)
            ),
            now=NOW,
        )
        return row.id


def _status(runtime: Runtime, connection_id: str) -> str:
    with runtime.db.session() as session:
        row = session.get(EnvironmentAccountConnectionRow, connection_id)
        assert row is not None
        return row.status


def _create_environment(runtime: Runtime, name: str, **settings: str) -> None:
    with runtime.db.session(write=True) as session:
        environments.create_environment(
            session,
            runtime.arns,
            name=name,
            template_name="network",
            major="1",
            minor=None,
            spec=env_spec(),
            settings=EnvironmentSettings(**settings),
            now=NOW,
        )


def test_a_request_starts_pending_and_accepting_connects_it_once(runtime: Runtime) -> None:
    connection_id = _request(runtime)
    assert _status(runtime, connection_id) == "PENDING"
    for _ in range(2):  # accepting twice changes nothing
        with runtime.db.session(write=True) as session:
            connections.accept_connection(session, connection_id, MANAGEMENT, NOW)
        assert _status(runtime, connection_id) == "CONNECTED"


def test_a_rejected_connection_can_be_neither_accepted_nor_changed(runtime: Runtime) -> None:
    connection_id = _request(runtime)
    with runtime.db.session(write=True) as session:
        connections.reject_connection(session, connection_id, MANAGEMENT, NOW)
    with runtime.db.session(write=True) as session, pytest.raises(Conflict):
        connections.accept_connection(session, connection_id, MANAGEMENT, NOW)
    with runtime.db.session(write=True) as session, pytest.raises(Conflict):
        connections.update_connection(
            session, connection_id, ENVIRONMENT_ACCOUNT, ConnectionRoles(_role("x")), NOW
        )
    assert _status(runtime, connection_id) == "REJECTED"


def test_the_management_account_does_not_request_and_names_only_itself(
    runtime: Runtime,
) -> None:
    with runtime.db.session(write=True) as session:
        with pytest.raises(InvalidInput) as own:
            connections.create_connection(
                session,
                runtime.arns,
                caller_account=MANAGEMENT,
                new=NewConnection("dev", MANAGEMENT, ConnectionRoles(_role("r", MANAGEMENT))),
                now=NOW,
            )
        assert own.value.field == ("managementAccountId",)
        with pytest.raises(InvalidInput) as elsewhere:
            connections.create_connection(
                session,
                runtime.arns,
                caller_account=ENVIRONMENT_ACCOUNT,
                new=NewConnection("dev", "999999999999", ConnectionRoles(_role("r"))),
                now=NOW,
            )
        assert "this Baryon manages account 123456789012" in elsewhere.value.message


def test_roles_must_be_the_environment_accounts_own(runtime: Runtime) -> None:
    with runtime.db.session(write=True) as session, pytest.raises(InvalidInput) as caught:
        connections.create_connection(
            session,
            runtime.arns,
            caller_account=ENVIRONMENT_ACCOUNT,
            new=NewConnection(
                "dev",
                MANAGEMENT,
                ConnectionRoles(_role("r"), component_role_arn=_role("c", "444455556666")),
            ),
            now=NOW,
        )
    assert caught.value.field == ("componentRoleArn",)


def test_each_side_does_only_its_own_part(runtime: Runtime) -> None:
    connection_id = _request(runtime)
    with runtime.db.session(write=True) as session:
        with pytest.raises(InvalidInput):
            connections.accept_connection(session, connection_id, ENVIRONMENT_ACCOUNT, NOW)
        with pytest.raises(InvalidInput):
            connections.delete_connection(session, connection_id, MANAGEMENT)
        with pytest.raises(NotFound):
            connections.get_connection(session, connection_id, "444455556666")


def test_an_environment_names_only_a_connected_connection_for_itself(runtime: Runtime) -> None:
    connection_id = _request(runtime)
    with pytest.raises(InvalidInput, match="is PENDING"):
        _create_environment(runtime, "dev", environment_account_connection_id=connection_id)
    with runtime.db.session(write=True) as session:
        connections.accept_connection(session, connection_id, MANAGEMENT, NOW)
    with pytest.raises(InvalidInput, match="is for environment 'dev', not 'prod'"):
        _create_environment(runtime, "prod", environment_account_connection_id=connection_id)
    _create_environment(runtime, "dev", environment_account_connection_id=connection_id)
    with runtime.db.session() as session:
        environment = environments.find_environment(session, "dev")
        assert environment.environment_account_id == ENVIRONMENT_ACCOUNT


def test_a_connected_environment_deploys_into_its_account_as_the_connections_roles(
    runtime: Runtime,
) -> None:
    connection_id = _request(
        runtime, codebuild_role_arn=_role("builds"), component_role_arn=_role("components")
    )
    with runtime.db.session(write=True) as session:
        connections.accept_connection(session, connection_id, MANAGEMENT, NOW)
    _create_environment(runtime, "dev", environment_account_connection_id=connection_id)
    with runtime.db.session() as session:
        environment = environments.find_environment(session, "dev")
        account = connections.environment_account(session, environment)
        roles = connections.deploying_roles(session, environment)
    assert account is not None and account.account_id == ENVIRONMENT_ACCOUNT
    assert (roles.role_arn, roles.codebuild_role_arn, roles.component_role_arn) == (
        _role("deployer"),
        _role("builds"),
        _role("components"),
    )


def test_a_deleted_connection_stops_the_environments_deployments(runtime: Runtime) -> None:
    connection_id = _request(runtime)
    with runtime.db.session(write=True) as session:
        connections.accept_connection(session, connection_id, MANAGEMENT, NOW)
    _create_environment(runtime, "dev", environment_account_connection_id=connection_id)
    with (
        runtime.db.session(write=True) as session,
        pytest.raises(Conflict, match="cannot be rejected"),
    ):
        connections.reject_connection(session, connection_id, MANAGEMENT, NOW)
    with runtime.db.session(write=True) as session:
        connections.delete_connection(session, connection_id, ENVIRONMENT_ACCOUNT)
    with runtime.db.session() as session:
        environment = environments.find_environment(session, "dev")
        with pytest.raises(ConnectionUnavailable, match="was deleted"):
            connections.environment_account(session, environment)


def test_a_connected_environment_takes_no_service_role(runtime: Runtime) -> None:
    connection_id = _request(runtime)
    with runtime.db.session(write=True) as session:
        connections.accept_connection(session, connection_id, MANAGEMENT, NOW)
    with pytest.raises(InvalidInput) as both:
        _create_environment(
            runtime,
            "dev",
            environment_account_connection_id=connection_id,
            proton_service_role_arn=_role("proton", MANAGEMENT),
        )
    assert both.value.field == ("protonServiceRoleArn",)
    _create_environment(runtime, "dev", environment_account_connection_id=connection_id)
    with runtime.db.session(write=True) as session:
        # As if its first deployment had ended: no worker runs here.
        environments.find_environment(session, "dev").deployment_status = "SUCCEEDED"
    with runtime.db.session(write=True) as session, pytest.raises(InvalidInput) as later:
        environments.update_environment(
            session,
            runtime.arns,
            name="dev",
            deployment_type=DeploymentUpdateType.NONE,
            spec=None,
            major=None,
            minor=None,
            settings=EnvironmentSettings(proton_service_role_arn=_role("proton", MANAGEMENT)),
            now=NOW,
        )
    assert later.value.field == ("protonServiceRoleArn",)


def test_an_environment_accounts_key_may_call_only_its_connection_operations(
    runtime: Runtime,
) -> None:
    key = create_access_key(runtime.db, runtime.box, "env", ENVIRONMENT_ACCOUNT)
    operator = create_access_key(runtime.db, runtime.box, "operator")
    assert [k.account_id for k in list_access_keys(runtime.db)] == [ENVIRONMENT_ACCOUNT, None]

    def refused(access_key_id: str, operation: str) -> bool:
        return account_access.refusal(runtime.db, access_key_id, operation, MANAGEMENT) is not None

    env_key, operator_key = key.access_key_id, operator.access_key_id
    assert not refused(env_key, "CreateEnvironmentAccountConnection")
    assert not refused(env_key, "ListEnvironmentAccountConnections")
    assert refused(env_key, "AcceptEnvironmentAccountConnection")
    assert refused(env_key, "ListEnvironments")
    assert refused(operator_key, "CreateEnvironmentAccountConnection")
    assert not refused(operator_key, "AcceptEnvironmentAccountConnection")
    assert not refused(operator_key, "ListEnvironments")
    with pytest.raises(ValueError, match="12 digits"):
        create_access_key(runtime.db, runtime.box, "bad", "12345")
