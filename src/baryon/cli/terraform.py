"""``baryon terraform``: the Terraform state Baryon keeps, for recovery by hand.

Run on a machine that reaches the database with the master key (like ``baryon keys``): it
reads the store directly, so it works while the API is down, which is when it is needed. The
printed state is what ``terraform state push`` takes, should a person have to restore one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from baryon.cli.options import data_dir_option, settings_from
from baryon.operations.terraform_state import TerraformStates
from baryon.runtime import build_runtime


@click.group()
def terraform() -> None:
    """Terraform run by Baryon."""


@terraform.group()
def state() -> None:
    """The state of a resource that Terraform deployed (every version is kept)."""


@state.command("show")
@click.argument("resource")
@click.option("--version", "number", type=int, default=None, help="A version (default: latest).")
@data_dir_option
def show(resource: str, number: int | None, data_dir: Path | None) -> None:
    """Print a version of RESOURCE's state: a resource ARN, or its last part
    (environment/dev, service/web/service-instance/prod, service/web/pipeline,
    component/bucket)."""
    runtime = build_runtime(settings_from(data_dir=data_dir))
    try:
        arn = _resource_arn(resource, runtime.arns.make)
        found = TerraformStates(runtime.db, runtime.box).version(arn, number)
    finally:
        runtime.close()
    if found is None:
        which = "no state" if number is None else f"no version {number} of the state"
        raise click.ClickException(f"{which} for {arn}")
    click.echo(
        f"# {arn} version {found.version}, written {found.created_at:%Y-%m-%d %H:%M:%SZ}"
        f" by {found.written_by or 'an unlocked run'}",
        err=True,
    )
    click.echo(found.state)


@state.command("versions")
@click.argument("resource")
@data_dir_option
def versions(resource: str, data_dir: Path | None) -> None:
    """List the versions kept of RESOURCE's state, oldest first."""
    runtime = build_runtime(settings_from(data_dir=data_dir))
    try:
        arn = _resource_arn(resource, runtime.arns.make)
        numbers = TerraformStates(runtime.db, runtime.box).version_numbers(arn)
    finally:
        runtime.close()
    if not numbers:
        raise click.ClickException(f"no state for {arn}")
    for number in numbers:
        click.echo(number)


def _resource_arn(resource: str, make: Callable[[str], str]) -> str:
    """``make`` builds an ARN of this Baryon from its resource part."""
    return resource if resource.startswith("arn:") else make(resource.strip("/"))
