"""``baryon``: run Baryon, manage its keys, publish templates."""

from __future__ import annotations

import logging
import sys

import click

from baryon import __version__
from baryon.cli.keys import keys
from baryon.cli.serve import cloud, up
from baryon.cli.template import template


@click.group()
@click.version_option(__version__, prog_name="baryon")
def cli() -> None:
    """Baryon: a self-hosted, Proton-compatible platform for infrastructure templates."""


cli.add_command(up)
cli.add_command(cloud)
cli.add_command(keys)
cli.add_command(template)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


if __name__ == "__main__":
    cli()
