"""``baryon users``: the people who may sign in to the portal (run on the server's machine)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from baryon.cli.failures import CliFailure, ExitStatus
from baryon.cli.local_store import open_runtime
from baryon.cli.options import OutputFormat, data_dir_option, output_option
from baryon.cli.output import Column, emit_rows
from baryon.operations.portal_passwords import password_problem
from baryon.operations.portal_users import (
    UserError,
    create_user,
    delete_user,
    list_users,
    set_password,
)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        # One line, as `echo "$PASSWORD" | baryon users create NAME --password-stdin` gives it.
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = password_problem(password)
    if problem:
        raise CliFailure(ExitStatus.INVALID_INPUT, f"password refused: {problem}")
    return password


password_stdin_option = click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of prompting.",
)


@click.group()
def users() -> None:
    """Create, list and delete portal users (API clients use access keys instead)."""


@users.command("create")
@click.argument("name")
@password_stdin_option
@data_dir_option
def create(name: str, password_stdin: bool, data_dir: Path | None) -> None:
    """Create a user who can sign in to the portal."""
    # The store first: nobody types a password twice to learn that there is none.
    with open_runtime(data_dir) as runtime:
        password = _read_password(password_stdin)
        try:
            with runtime.db.session(write=True) as session:
                create_user(session, name, password, datetime.now(UTC))
        except UserError as exc:
            raise CliFailure(ExitStatus.REFUSED, str(exc)) from exc
    click.echo(f"created user {name}")


@users.command("set-password")
@click.argument("name")
@password_stdin_option
@data_dir_option
def change_password(name: str, password_stdin: bool, data_dir: Path | None) -> None:
    """Give a user a new password (and sign them out everywhere)."""
    # The store first: nobody types a password twice to learn that there is none.
    with open_runtime(data_dir) as runtime:
        password = _read_password(password_stdin)
        try:
            with runtime.db.session(write=True) as session:
                set_password(session, name, password, datetime.now(UTC))
        except UserError as exc:
            raise CliFailure(ExitStatus.REFUSED, str(exc)) from exc
    click.echo(f"changed the password of {name}")


@users.command("list")
@data_dir_option
@output_option
def list_command(data_dir: Path | None, output: OutputFormat) -> None:
    """List portal users."""
    with open_runtime(data_dir) as runtime, runtime.db.session() as session:
        found = list_users(session)
    emit_rows(output, "users", found, (Column("User", "name"), Column("Created", "created_at")))


@users.command("delete")
@click.argument("name")
@data_dir_option
def delete(name: str, data_dir: Path | None) -> None:
    """Delete a user; their sessions end at once."""
    with open_runtime(data_dir) as runtime:
        try:
            with runtime.db.session(write=True) as session:
                delete_user(session, name)
        except UserError as exc:
            raise CliFailure(ExitStatus.REFUSED, str(exc)) from exc
    click.echo(f"deleted user {name}")
