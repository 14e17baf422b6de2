"""``baryon keys``: the access keys that may call the API."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy.orm import Session

from baryon.auth.access_keys import (
    ACCOUNT_ID,
    create_access_key,
    delete_access_key,
    list_access_keys,
)
from baryon.auth.identities import UnknownIdentity
from baryon.auth.identities import user_id as _user_id
from baryon.cli.failures import CliFailure, ExitStatus
from baryon.cli.key_rotation import rotate_master
from baryon.cli.local_store import open_runtime
from baryon.cli.options import OutputFormat, data_dir_option, output_option
from baryon.cli.output import Column, emit, emit_rows


@click.group()
def keys() -> None:
    """Create, list and delete API access keys (run on the server's machine)."""


@keys.command("create")
@click.option("--description", default="", help="What the key is for.")
@click.option(
    "--account",
    default=None,
    help="Another AWS account id the key acts for (an environment account: it may only "
    "request and manage its environment account connections).",
)
@click.option(
    "--user",
    default=None,
    help="The user or robot the key acts as, with its roles (`baryon users create NAME "
    "--robot` makes a robot). Without it, the key acts as the built-in robot admin.",
)
@data_dir_option
@output_option
def create(
    description: str,
    account: str | None,
    user: str | None,
    data_dir: Path | None,
    output: OutputFormat,
) -> None:
    """Create an access key and print its secret (shown only once)."""
    if account is not None and not ACCOUNT_ID.fullmatch(account):
        raise click.BadParameter("an AWS account id is 12 digits", param_hint="--account")
    if account is not None and user is not None:
        raise click.BadParameter("a key acts for an account or as a user", param_hint="--user")
    with open_runtime(data_dir) as runtime:
        owner = None
        if user is not None:
            with runtime.identity_db.session() as session:
                owner = session_user_id(session, user)
        key = create_access_key(runtime.identity_db, runtime.box, description, account, owner)

    def text() -> None:
        click.echo(f"AWS_ACCESS_KEY_ID={key.access_key_id}")
        click.echo(f"AWS_SECRET_ACCESS_KEY={key.secret_access_key}")

    emit(output, key, text)


def session_user_id(session: Session, user: str) -> int:
    try:
        return _user_id(session, user)
    except UnknownIdentity as exc:
        raise CliFailure(ExitStatus.REFUSED, exc.message, "see `baryon users list`") from exc


@keys.command("list")
@data_dir_option
@output_option
def list_keys(data_dir: Path | None, output: OutputFormat) -> None:
    """List access keys (never their secrets)."""
    with open_runtime(data_dir) as runtime:
        found = list_access_keys(runtime.db)
    columns = (
        Column("Access key id", "access_key_id"),
        Column("Created", "created_at"),
        Column("Description", "description"),
        Column("Account", "account_id"),
    )
    emit_rows(output, "accessKeys", found, columns)


@keys.command("delete")
@click.argument("access_key_id")
@data_dir_option
def delete(access_key_id: str, data_dir: Path | None) -> None:
    """Delete an access key; requests signed with it are refused from then on."""
    with open_runtime(data_dir) as runtime:
        deleted = delete_access_key(runtime.db, access_key_id)
    if not deleted:
        raise CliFailure(
            ExitStatus.REFUSED, f"no access key {access_key_id}", "see `baryon keys list`"
        )
    click.echo(f"deleted {access_key_id}")


keys.add_command(rotate_master)
