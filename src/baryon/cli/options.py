"""Options several commands share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from baryon.settings import Settings, load_settings

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
        raise click.ClickException(f"invalid settings: {exc}") from exc
