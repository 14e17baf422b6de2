"""``baryon terraform``: the Terraform state Baryon keeps, for recovery by hand.

Run on a machine that reaches the database with the master key (like ``baryon keys``): it
reads the store directly, so it works while the API is down, which is when it is needed. The
printed state is what ``terraform state push`` takes, should a person have to restore one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from baryon.cli.failures import CliFailure, ExitStatus
from baryon.cli.local_store import open_runtime
from baryon.cli.options import OutputFormat, data_dir_option, output_option
from baryon.cli.output import emit
from baryon.operations.terraform_state import TerraformStates


@dataclass(frozen=True)
class PrintedState:
    """A kept version of a state, as ``--output json`` prints it."""

    arn: str
    version: int
    created_at: datetime
    written_by: str | None
    state: Any  # Terraform's own state document


@dataclass(frozen=True)
class StateVersions:
    arn: str
    versions: tuple[int, ...]


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
@output_option
def show(resource: str, number: int | None, data_dir: Path | None, output: OutputFormat) -> None:
    """Print a version of RESOURCE's state: a resource ARN, or its last part
    (environment/dev, service/web/service-instance/prod, service/web/pipeline,
    component/bucket)."""
    with open_runtime(data_dir) as runtime:
        arn = _resource_arn(resource, runtime.arns.make)
        found = TerraformStates(runtime.db, runtime.box).version(arn, number)
    if found is None:
        which = "no state" if number is None else f"no version {number} of the state"
        raise CliFailure(
            ExitStatus.REFUSED, f"{which} for {arn}", f"see `baryon terraform state versions {arn}`"
        )

    def text() -> None:
        click.echo(
            f"# {arn} version {found.version}, written {found.created_at:%Y-%m-%d %H:%M:%SZ}"
            f" by {found.written_by or 'an unlocked run'}",
            err=True,
        )
        click.echo(found.state)

    document = PrintedState(
        arn, found.version, found.created_at, found.written_by, _parsed(found.state)
    )
    emit(output, document, text)


@state.command("versions")
@click.argument("resource")
@data_dir_option
@output_option
def versions(resource: str, data_dir: Path | None, output: OutputFormat) -> None:
    """List the versions kept of RESOURCE's state, oldest first."""
    with open_runtime(data_dir) as runtime:
        arn = _resource_arn(resource, runtime.arns.make)
        numbers = TerraformStates(runtime.db, runtime.box).version_numbers(arn)
    if not numbers:
        raise CliFailure(ExitStatus.REFUSED, f"no state for {arn}")

    def text() -> None:
        for number in numbers:
            click.echo(number)

    emit(output, StateVersions(arn, tuple(numbers)), text)


def _parsed(state: str) -> Any:
    """The state as JSON (a state that is not JSON stays its text)."""
    try:
        return json.loads(state)
    except ValueError:
        return state


def _resource_arn(resource: str, make: Callable[[str], str]) -> str:
    """``make`` builds an ARN of this Baryon from its resource part."""
    return resource if resource.startswith("arn:") else make(resource.strip("/"))
