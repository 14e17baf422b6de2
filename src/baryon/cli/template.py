"""``baryon template``: check a bundle (``validate``), see what it deploys (``render``), and
register it on a Baryon (``publish``).

``validate`` and ``render`` work offline (cli/template_offline.py); ``publish`` is a client of
a running Baryon (cli/template_publish.py).
"""

from __future__ import annotations

import click

from baryon.cli.template_offline import render, validate
from baryon.cli.template_publish import publish


@click.group()
def template() -> None:
    """Work with environment and service templates."""


template.add_command(validate)
template.add_command(render)
template.add_command(publish)
