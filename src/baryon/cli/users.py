"""``baryon users``: the people who may sign in to the portal and the robots that only have
access keys, and the roles granted to them (run on the server's machine)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy.orm import Session

from baryon.auth import identities
from baryon.auth.identities import IdentityError, UserKind, UserRecord
from baryon.cli.failures import CliFailure, ExitStatus
from baryon.cli.local_store import open_runtime
from baryon.cli.options import OutputFormat, data_dir_option, output_option
from baryon.cli.output import Column, emit, emit_rows
from baryon.operations.portal_passwords import hash_password, password_problem
from baryon.operations.portal_users import UserError, set_password


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
@click.option("--robot", is_flag=True, help="A robot: access keys only, no password, no portal.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    help="A role to grant (admin, platform, developer, viewer); repeat for more. Without one, "
    "the first person made is an admin and everyone else has only their teams' roles.",
)
@click.option("--team", "teams", multiple=True, help="A team to join (it must exist); repeat.")
@click.option("--display-name", default=None, help="The name shown in the portal.")
@click.option("--email", default=None, help="The user's email address.")
@password_stdin_option
@data_dir_option
def create(
    name: str,
    robot: bool,
    roles: tuple[str, ...],
    teams: tuple[str, ...],
    display_name: str | None,
    email: str | None,
    password_stdin: bool,
    data_dir: Path | None,
) -> None:
    """Create a person who can sign in to the portal, or with --robot a robot for access keys."""
    if robot and password_stdin:
        raise click.BadParameter("a robot has no password", param_hint="--password-stdin")
    # The store first: nobody types a password twice to learn that there is none.
    with open_runtime(data_dir) as runtime:
        password_hash = "" if robot else hash_password(_read_password(password_stdin))
        kind = UserKind.ROBOT if robot else UserKind.PERSON
        with _refused(), runtime.identity_db.session(write=True) as session:
            identities.create_user(
                session,
                name,
                kind,
                datetime.now(UTC),
                password_hash=password_hash,
                display_name=display_name,
                email=email,
                roles=roles or None,
                teams=teams,
            )
            made = identities.get_user(session, name)
    granted = f" with roles {', '.join(made.roles)}" if made.roles else ""
    click.echo(f"created {'robot' if robot else 'user'} {name}{granted}")


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
    """List users and robots, with the roles granted to each and their teams."""
    with open_runtime(data_dir) as runtime, runtime.identity_db.session() as session:
        found = identities.list_users(session)
    columns = (
        Column("User", "name"),
        Column("Kind", "kind"),
        Column("Roles", "roles"),
        Column("Teams", "teams"),
        Column("Created", "created_at"),
    )
    emit_rows(output, "users", found, columns)


@users.command("show")
@click.argument("name")
@data_dir_option
@output_option
def show(name: str, data_dir: Path | None, output: OutputFormat) -> None:
    """Show one user: kind, roles (its own; its teams add theirs), teams, sign-in identity."""
    with open_runtime(data_dir) as runtime, _refused(), runtime.identity_db.session() as session:
        user = identities.get_user(session, name)
    emit(output, user, lambda: _print_user(user))


def _print_user(user: UserRecord) -> None:
    click.echo(f"User:     {user.name} ({user.kind})")
    if user.display_name:
        click.echo(f"Name:     {user.display_name}")
    if user.email:
        click.echo(f"Email:    {user.email}")
    if user.oidc_issuer:
        click.echo(f"Signs in: {user.oidc_issuer}")
    click.echo(f"Roles:    {', '.join(user.roles) or '-'}")
    click.echo(f"Teams:    {', '.join(user.teams) or '-'}")
    click.echo(f"Created:  {user.created_at.isoformat()}")


@users.command("delete")
@click.argument("name")
@data_dir_option
def delete(name: str, data_dir: Path | None) -> None:
    """Delete a user or robot; its sessions end and its access keys stop working at once."""
    with (
        open_runtime(data_dir) as runtime,
        _refused(),
        runtime.identity_db.session(write=True) as session,
    ):
        identities.delete_user(session, name)
    click.echo(f"deleted user {name}")


@users.command("grant")
@click.argument("name")
@click.argument("role")
@data_dir_option
def grant(name: str, role: str, data_dir: Path | None) -> None:
    """Grant a role to a user or robot."""
    with (
        open_runtime(data_dir) as runtime,
        _refused(),
        runtime.identity_db.session(write=True) as session,
    ):
        changed = identities.grant_user_role(session, name, role)
    click.echo(f"granted {role} to {name}" if changed else f"{name} already has {role}")


@users.command("revoke")
@click.argument("name")
@click.argument("role")
@data_dir_option
def revoke(name: str, role: str, data_dir: Path | None) -> None:
    """Take a role from a user or robot (roles through its teams stay)."""
    with (
        open_runtime(data_dir) as runtime,
        _refused(),
        runtime.identity_db.session(write=True) as session,
    ):
        changed = identities.revoke_user_role(session, name, role)
    if not changed:
        raise CliFailure(
            ExitStatus.REFUSED, f"{name} has no role {role} of its own", "see `baryon users show`"
        )
    click.echo(f"revoked {role} from {name}")


@contextlib.contextmanager
def _refused() -> Iterator[None]:
    """An identity mistake (unknown user, taken name, bad role) as the CLI's one-line failure."""
    try:
        yield
    except IdentityError as exc:
        raise CliFailure(ExitStatus.REFUSED, exc.message) from exc


@contextlib.contextmanager
def identity_session(data_dir: Path | None, *, write: bool = False) -> Iterator[Session]:
    """A transaction in the identity database, its mistakes the CLI's one-line failures."""
    with (
        open_runtime(data_dir) as runtime,
        _refused(),
        runtime.identity_db.session(write=write) as session,
    ):
        yield session
