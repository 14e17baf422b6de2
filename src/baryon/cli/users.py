"""``baryon users``: the people who may sign in to the portal (run on the server's machine)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from baryon.cli.options import data_dir_option, settings_from
from baryon.operations.portal_passwords import password_problem
from baryon.operations.portal_users import (
    UserError,
    create_user,
    delete_user,
    list_users,
    set_password,
)
from baryon.runtime import Runtime, build_runtime


def _runtime(data_dir: Path | None) -> Runtime:
    return build_runtime(settings_from(data_dir=data_dir))


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        # One line, as `echo "$PASSWORD" | baryon users create NAME --password-stdin` gives it.
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = password_problem(password)
    if problem:
        raise click.ClickException(problem)
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
    password = _read_password(password_stdin)
    runtime = _runtime(data_dir)
    try:
        with runtime.db.session(write=True) as session:
            create_user(session, name, password, datetime.now(UTC))
    except UserError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        runtime.close()
    click.echo(f"created user {name}")


@users.command("set-password")
@click.argument("name")
@password_stdin_option
@data_dir_option
def change_password(name: str, password_stdin: bool, data_dir: Path | None) -> None:
    """Give a user a new password (and sign them out everywhere)."""
    password = _read_password(password_stdin)
    runtime = _runtime(data_dir)
    try:
        with runtime.db.session(write=True) as session:
            set_password(session, name, password, datetime.now(UTC))
    except UserError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        runtime.close()
    click.echo(f"changed the password of {name}")


@users.command("list")
@data_dir_option
def list_command(data_dir: Path | None) -> None:
    """List portal users."""
    runtime = _runtime(data_dir)
    try:
        with runtime.db.session() as session:
            found = list_users(session)
    finally:
        runtime.close()
    table = Table("User", "Created")
    for user in found:
        table.add_row(user.name, user.created_at.strftime("%Y-%m-%d %H:%M:%SZ"))
    Console().print(table)


@users.command("delete")
@click.argument("name")
@data_dir_option
def delete(name: str, data_dir: Path | None) -> None:
    """Delete a user; their sessions end at once."""
    runtime = _runtime(data_dir)
    try:
        with runtime.db.session(write=True) as session:
            delete_user(session, name)
    except UserError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        runtime.close()
    click.echo(f"deleted user {name}")
