"""Options several commands share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import click

from baryon.cli.failures import CliFailure, ExitStatus
from baryon.settings import Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where Baryon keeps its database, keys and state (default: ~/.local/share/baryon).",
)


def settings_from(**overrides: Any) -> Settings:
    try:
        return load_settings(overrides)
    except (ValueError, OSError) as exc:
        raise CliFailure(
            ExitStatus.INVALID_INPUT,
            f"invalid settings: {exc}",
            "fix the BARYON_* variable or the setting in baryon.toml it names",
        ) from exc


class OutputFormat(StrEnum):
    # Tables and lines for a person.
    TEXT = "text"
    # One JSON document on standard output, for scripts and jq.
    JSON = "json"


output_option = click.option(
    "--output",
    "output",
    type=click.Choice([format.value for format in OutputFormat]),
    default=OutputFormat.TEXT.value,
    show_default=True,
    callback=lambda _context, _param, value: OutputFormat(value),
    help="How to print what the command found: text for people, json for scripts.",
)


@dataclass(frozen=True)
class ClientFlags:
    """What a client command's line said about where Baryon is; None = not given."""

    endpoint_url: str | None = None
    region: str | None = None
    data_dir: Path | None = None


# Where client_options keeps the flags, so that ApiClients() finds them without every command
# passing them along.
_FLAGS_KEY = "baryon.client_flags"


def current_client_flags() -> ClientFlags:
    """The running command's client flags, or none given (outside a command too)."""
    context = click.get_current_context(silent=True)
    found = context.meta.get(_FLAGS_KEY) if context is not None else None
    return found if isinstance(found, ClientFlags) else ClientFlags()


def _remember(field: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(context: click.Context, _param: click.Parameter, value: Any) -> None:
        if value is not None:
            context.meta[_FLAGS_KEY] = replace(current_client_flags(), **{field: value})

    return callback


def client_options(command: F) -> F:
    """``--endpoint-url``, ``--region`` and ``--data-dir`` for a command that calls the API
    through ApiClients; without them, AWS settings and then the env file say where Baryon is."""
    options = (
        click.option(
            "--endpoint-url",
            default=None,
            expose_value=False,
            callback=_remember("endpoint_url"),
            help="Baryon's API (default: AWS_ENDPOINT_URL_PROTON, else the env file of the "
            "data directory).",
        ),
        click.option(
            "--region",
            default=None,
            expose_value=False,
            callback=_remember("region"),
            help="The region to call (default: AWS_DEFAULT_REGION, else the env file's).",
        ),
        click.option(
            "--data-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            expose_value=False,
            callback=_remember("data_dir"),
            help="Talk to the Baryon running on this data directory (its env file).",
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command
