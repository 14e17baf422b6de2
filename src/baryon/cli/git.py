"""``baryon connection`` and ``baryon repository``: how Baryon reaches git, through its API.

Secrets never go on the command line (where shell history and process lists keep them):
tokens and passwords come from environment variables, keys from files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from baryon.cli.api_clients import ApiClients, call
from baryon.cli.failures import CliFailure, ExitStatus
from baryon.cli.options import OutputFormat, client_options, output_option
from baryon.cli.output import Column, emit, emit_rows

# Advice goes to standard error, so that standard output holds only what was asked for.
console = Console(stderr=True)
_PROVIDERS = ["GITHUB", "GITHUB_ENTERPRISE", "BITBUCKET", "GITLAB", "GIT"]
_PROTON_PROVIDERS = ["GITHUB", "GITHUB_ENTERPRISE", "BITBUCKET"]


@dataclass(frozen=True)
class CreatedConnection:
    arn: str
    # Where push and pull request events go; None when Baryon has no public URL.
    webhook_url: str | None


@dataclass(frozen=True)
class CreatedRepository:
    arn: str
    # For a repository on Baryon's own git server: the URL to push to.
    push_url: str | None


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
@output_option
@client_options
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
    output: OutputFormat,
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
    document = CreatedConnection(created["arn"], created.get("webhookUrl"))

    def text() -> None:
        click.echo(document.arn)
        if document.webhook_url:
            console.print(f"Webhook URL (push and pull request events): {document.webhook_url}")

    emit(output, document, text)


@connection.command("list")
@output_option
@client_options
def list_connections(output: OutputFormat) -> None:
    """List the connections."""
    found = _pages(ApiClients().baryon.list_connections, "connections")
    columns = (
        Column("name", "name"),
        Column("provider", "provider"),
        Column("credentials", "credentialKind"),
        Column("arn", "arn"),
    )
    emit_rows(output, "connections", found, columns)


@connection.command("delete")
@click.argument("name_or_arn")
@client_options
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
@output_option
@client_options
def create_repository(name: str, connection_name: str, provider: str, output: OutputFormat) -> None:
    """Register repository NAME (owner/name); on Baryon's own server, create it empty."""
    clients = ApiClients()
    arn = connection_arn(clients, connection_name)
    created = call(
        clients.proton.create_repository, name=name, provider=provider, connectionArn=arn
    )["repository"]
    endpoint = clients.proton.meta.endpoint_url.rstrip("/")
    push_url = f"{endpoint}/git/{name}.git" if connection_name == "baryon" else None
    document = CreatedRepository(created["arn"], push_url)

    def text() -> None:
        click.echo(document.arn)
        if push_url:
            console.print(
                f"Push to it: git remote add baryon {push_url}\n"
                "(git asks for a user name and password: an access key id and its secret, "
                "or a portal user and password)"
            )

    emit(output, document, text)


@repository.command("list")
@output_option
@client_options
def list_repositories(output: OutputFormat) -> None:
    """List the registered repositories."""
    found = _pages(ApiClients().proton.list_repositories, "repositories")
    columns = (
        Column("provider", "provider"),
        Column("name", "name"),
        Column("connection", "connectionArn"),
    )
    emit_rows(output, "repositories", found, columns)


@repository.command("delete")
@click.argument("name")
@click.option(
    "--provider", type=click.Choice(_PROTON_PROVIDERS), default="GITHUB", show_default=True
)
@client_options
def delete_repository(name: str, provider: str) -> None:
    """Unregister repository NAME (its commits stay where they are)."""
    call(ApiClients().proton.delete_repository, name=name, provider=provider)


def connection_arn(clients: ApiClients, name_or_arn: str) -> str:
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    for found in _pages(clients.baryon.list_connections, "connections"):
        if found["name"] == name_or_arn:
            return str(found["arn"])
    raise CliFailure(
        ExitStatus.REFUSED,
        f"no connection is named {name_or_arn!r}",
        "see `baryon connection list`",
    )


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
        raise CliFailure(
            ExitStatus.USAGE, f"${variable} is empty or not set", f"export {variable}=... first"
        )
    return value


def _read(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliFailure(ExitStatus.INVALID_INPUT, f"cannot read {path}: {exc}") from exc
