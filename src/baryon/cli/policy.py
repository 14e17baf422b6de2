"""``baryon policy``: the Cedar access policies (list, show, put, reset, delete) and ``test``,
which says whether someone may do something and which policy says so.

The commands are API clients (ListPolicies, PutPolicy, ...), so they work on a remote Baryon
as whoever the CLI's key belongs to, and each change is authorized and audited like any other.
``test --data-dir DIR`` answers offline from the store of the Baryon on this machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from baryon.cli.api_clients import ApiClients, call
from baryon.cli.failures import CliFailure, ExitStatus
from baryon.cli.local_store import open_runtime
from baryon.cli.options import OutputFormat, client_options, output_option
from baryon.cli.output import Column, emit, emit_rows
from baryon.operations.errors import DomainError
from baryon.operations.policies import explain

_COLUMNS = (
    Column("Name", "name"),
    Column("Built in", "builtin"),
    Column("Edited", "edited"),
    Column("Updated by", "updatedBy"),
    Column("Updated at", "updatedAt"),
)
MAX_POLICY_FILE = 64 * 1024  # bytes: PutPolicy's limit on a policy's text


@click.group("policy")
def policy() -> None:
    """Who may do what: Cedar policies over Proton's and Baryon's operations."""


@policy.command("list")
@output_option
@client_options
def list_policies(output: OutputFormat) -> None:
    """The policies in force: the built-in role policies (as edited) and the added ones."""
    answer = call(ApiClients().baryon.list_policies)
    emit_rows(output, "policies", answer["policies"], _COLUMNS)


@policy.command("show")
@click.argument("name")
@output_option
@client_options
def show(name: str, output: OutputFormat) -> None:
    """A policy's Cedar text."""
    found = call(ApiClients().baryon.get_policy, name=name)["policy"]
    emit(output, found, lambda: click.echo(found["text"], nl=not found["text"].endswith("\n")))


@policy.command("put")
@click.argument("name")
@click.option(
    "--file",
    "path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The Cedar text ('-' for standard input).",
)
@output_option
@client_options
def put(name: str, path: Path, output: OutputFormat) -> None:
    """Adds or replaces a policy (a built-in role's too); it is checked against the schema."""
    text = _read(path)
    stored = call(ApiClients().baryon.put_policy, name=name, text=text)["policy"]
    emit(output, stored, lambda: click.echo(f"policy {name} is in force"))


@policy.command("reset")
@click.argument("name")
@output_option
@client_options
def reset(name: str, output: OutputFormat) -> None:
    """Puts a built-in role policy's shipped text back."""
    stored = call(ApiClients().baryon.reset_policy, name=name)["policy"]
    emit(output, stored, lambda: click.echo(f"policy {name} is the shipped one again"))


@policy.command("delete")
@click.argument("name")
@client_options
def delete(name: str) -> None:
    """Deletes an added policy (a built-in one can only be edited or reset)."""
    call(ApiClients().baryon.delete_policy, name=name)
    click.echo(f"policy {name} deleted")


@policy.command("test")
@click.option(
    "--principal", required=True, help="user/NAME, robot/NAME, or role/ROLE (that role alone)."
)
@click.option("--action", required=True, help="An operation's name: DeleteEnvironment.")
@click.option(
    "--resource",
    required=True,
    help="An ARN or its resource part: environment/prod, service/shop/service-instance/a.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Answer offline from the store in this data directory instead of through the API.",
)
@output_option
@client_options
def test(
    principal: str, action: str, resource: str, data_dir: Path | None, output: OutputFormat
) -> None:
    """May PRINCIPAL perform ACTION on RESOURCE, and which policy says so. Exits 0 when
    allowed, 13 when denied."""
    answer: dict[str, Any]
    if data_dir is not None:
        with open_runtime(data_dir) as runtime:
            try:
                answer = dict(explain(runtime.db, runtime.arns, principal, action, resource))
            except DomainError as error:
                raise CliFailure(ExitStatus.INVALID_INPUT, error.message) from error
    else:
        answer = call(
            ApiClients().baryon.test_authorization,
            principal=principal,
            action=action,
            resource=resource,
        )
        answer.pop("ResponseMetadata", None)

    def text() -> None:
        verdict = "ALLOWED" if answer["allowed"] else "DENIED"
        click.echo(f"{verdict}: {answer['principal']} {action} {answer['resource']}")
        if answer["decidingPolicies"]:
            said = "allowed by" if answer["allowed"] else "forbidden by"
            click.echo(f"{said}: {', '.join(answer['decidingPolicies'])}")
        elif not answer["allowed"]:
            click.echo("no policy allows it")
        for error in answer["errors"]:
            click.echo(f"error: {error}")

    emit(output, answer, text)
    if not answer["allowed"]:
        # A script asks `baryon policy test ... && deploy`: a denial is not a success.
        click.get_current_context().exit(ExitStatus.ACCESS_DENIED)


def _read(path: Path) -> str:
    try:
        if str(path) == "-":
            data = click.get_binary_stream("stdin").read(MAX_POLICY_FILE + 1)
        else:
            with path.open("rb") as handle:
                data = handle.read(MAX_POLICY_FILE + 1)
    except OSError as error:
        raise CliFailure(
            ExitStatus.INVALID_INPUT, f"cannot read {path}: {error.strerror or error}"
        ) from error
    if len(data) > MAX_POLICY_FILE:
        raise CliFailure(ExitStatus.INVALID_INPUT, f"{path}: longer than {MAX_POLICY_FILE} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CliFailure(ExitStatus.INVALID_INPUT, f"{path}: not UTF-8 text") from error
