"""``baryon connection`` and ``baryon repository``: how Baryon reaches git, through its API.

Secrets never go on the command line (where shell history and process lists keep them):
tokens and passwords come from environment variables, keys from files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from baryon.cli.api_clients import ApiClients, call

console = Console()
_PROVIDERS = ["GITHUB", "GITHUB_ENTERPRISE", "BITBUCKET", "GITLAB", "GIT"]
_PROTON_PROVIDERS = ["GITHUB", "GITHUB_ENTERPRISE", "BITBUCKET"]


@click.group()
def connection() -> None:
    """Connections: how Baryon reaches a git provider (secrets are stored encrypted)."""


@connection.command("create")
@click.argument("name")
@click.option("--provider", type=click.Choice(_PROVIDERS), required=True)
@click.option(
    "--base-url",
    default=None,
    help="GitHub Enterprise / GitLab API root, or a git host URL prefix.",
)
@click.option("--arn", default=None, help="Register under an existing CodeStar connection ARN.")
@click.option("--token-env", default=None, metavar="VAR", help="Read an access token from $VAR.")
@click.option("--github-app-id", default=None)
@click.option(
    "--github-app-private-key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--username", default=None, help="With --password-env: app password or HTTPS user.")
@click.option("--password-env", default=None, metavar="VAR", help="Read the password from $VAR.")
@click.option(
    "--ssh-private-key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--webhook-secret-env", default=None, metavar="VAR", help="Webhook secret from $VAR.")
def create_connection(
    name: str,
    provider: str,
    base_url: str | None,
    arn: str | None,
    token_env: str | None,
    github_app_id: str | None,
    github_app_private_key_file: Path | None,
    username: str | None,
    password_env: str | None,
    ssh_private_key_file: Path | None,
    webhook_secret_env: str | None,
) -> None:
    """Create a connection NAME and print its ARN (CreateRepository's connectionArn)."""
    request: dict[str, Any] = {"name": name, "provider": provider}
    optional = {
        "baseUrl": base_url,
        "arn": arn,
        "token": _from_env(token_env),
        "githubAppId": github_app_id,
        "githubAppPrivateKey": _read(github_app_private_key_file),
        "username": username,
        "password": _from_env(password_env),
        "sshPrivateKey": _read(ssh_private_key_file),
        "webhookSecret": _from_env(webhook_secret_env),
    }
    request.update({key: value for key, value in optional.items() if value})
    created = call(ApiClients().baryon.create_connection, **request)["connection"]
    click.echo(created["arn"])
    if created.get("webhookUrl"):
        console.print(f"Webhook URL (push and pull request events): {created['webhookUrl']}")


@connection.command("list")
def list_connections() -> None:
    """List the connections."""
    table = Table("name", "provider", "credentials", "arn")
    for found in _pages(ApiClients().baryon.list_connections, "connections"):
        table.add_row(found["name"], found["provider"], found["credentialKind"], found["arn"])
    console.print(table)


@connection.command("delete")
@click.argument("name_or_arn")
def delete_connection(name_or_arn: str) -> None:
    """Delete a connection that no repository uses."""
    clients = ApiClients()
    call(clients.baryon.delete_connection, arn=connection_arn(clients, name_or_arn))


@click.group()
def repository() -> None:
    """Repositories registered with Baryon (Proton's CreateRepository)."""


@repository.command("create")
@click.argument("name")
@click.option(
    "--connection",
    "connection_name",
    default="baryon",
    show_default=True,
    help="A connection's name or ARN; 'baryon' is Baryon's own git server.",
)
@click.option(
    "--provider",
    type=click.Choice(_PROTON_PROVIDERS),
    default="GITHUB",
    show_default=True,
    help="The Proton provider name space to register it in.",
)
def create_repository(name: str, connection_name: str, provider: str) -> None:
    """Register repository NAME (owner/name); on Baryon's own server, create it empty."""
    clients = ApiClients()
    arn = connection_arn(clients, connection_name)
    created = call(
        clients.proton.create_repository, name=name, provider=provider, connectionArn=arn
    )["repository"]
    click.echo(created["arn"])
    if connection_name == "baryon":
        endpoint = clients.proton.meta.endpoint_url.rstrip("/")
        console.print(
            f"Push to it: git remote add baryon {endpoint}/git/{name}.git\n"
            "(git asks for a user name and password: an access key id and its secret, "
            "or a portal user and password)"
        )


@repository.command("list")
def list_repositories() -> None:
    """List the registered repositories."""
    table = Table("provider", "name", "connection")
    for found in _pages(ApiClients().proton.list_repositories, "repositories"):
        table.add_row(found["provider"], found["name"], found["connectionArn"])
    console.print(table)


@repository.command("delete")
@click.argument("name")
@click.option(
    "--provider", type=click.Choice(_PROTON_PROVIDERS), default="GITHUB", show_default=True
)
def delete_repository(name: str, provider: str) -> None:
    """Unregister repository NAME (its commits stay where they are)."""
    call(ApiClients().proton.delete_repository, name=name, provider=provider)


def connection_arn(clients: ApiClients, name_or_arn: str) -> str:
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    for found in _pages(clients.baryon.list_connections, "connections"):
        if found["name"] == name_or_arn:
            return str(found["arn"])
    raise click.ClickException(f"No connection is named {name_or_arn!r} (baryon connection list).")


def _pages(function: Any, key: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = call(function, **({"nextToken": token} if token else {}))
        found += page[key]
        token = page.get("nextToken")
        if not token:
            return found


def _from_env(variable: str | None) -> str | None:
    if variable is None:
        return None
    value = os.environ.get(variable)
    if not value:
        raise click.ClickException(f"${variable} is empty or not set.")
    return value


def _read(path: Path | None) -> str | None:
    return path.read_text() if path else None
