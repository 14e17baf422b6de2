"""``baryon keys``: the access keys that may call the API."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from baryon.auth.access_keys import create_access_key, delete_access_key, list_access_keys
from baryon.cli.options import data_dir_option, settings_from
from baryon.runtime import Runtime, build_runtime


def _runtime(data_dir: Path | None) -> Runtime:
    return build_runtime(settings_from(data_dir=data_dir))


@click.group()
def keys() -> None:
    """Create, list and delete API access keys (run on the server's machine)."""


@keys.command("create")
@click.option("--description", default="", help="What the key is for.")
@data_dir_option
def create(description: str, data_dir: Path | None) -> None:
    """Create an access key and print its secret (shown only once)."""
    runtime = _runtime(data_dir)
    try:
        key = create_access_key(runtime.db, runtime.box, description)
    finally:
        runtime.close()
    click.echo(f"AWS_ACCESS_KEY_ID={key.access_key_id}")
    click.echo(f"AWS_SECRET_ACCESS_KEY={key.secret_access_key}")


@keys.command("list")
@data_dir_option
def list_keys(data_dir: Path | None) -> None:
    """List access keys (never their secrets)."""
    runtime = _runtime(data_dir)
    try:
        found = list_access_keys(runtime.db)
    finally:
        runtime.close()
    table = Table("Access key id", "Created", "Description")
    for key in found:
        table.add_row(
            key.access_key_id, key.created_at.strftime("%Y-%m-%d %H:%M:%SZ"), key.description
        )
    Console().print(table)


@keys.command("delete")
@click.argument("access_key_id")
@data_dir_option
def delete(access_key_id: str, data_dir: Path | None) -> None:
    """Delete an access key; requests signed with it are refused from then on."""
    runtime = _runtime(data_dir)
    try:
        deleted = delete_access_key(runtime.db, access_key_id)
    finally:
        runtime.close()
    if not deleted:
        raise click.ClickException(f"no access key {access_key_id}")
    click.echo(f"deleted {access_key_id}")
