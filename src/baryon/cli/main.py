"""``baryon``: run Baryon, manage its keys, publish templates."""

from __future__ import annotations

import gc

# Importing the commands makes some 160,000 objects that live as long as the process (table
# mappings, service models, every operation). The cyclic collector would scan them over and
# over while they are made, and free nothing: it waits until they are all there, and then
# they are moved out of its sight (gc.freeze), so later full collections skip them too.
gc.disable()

import click

from baryon import __version__
from baryon.cli.approvals import approvals, protect, unprotect
from baryon.cli.audit import audit
from baryon.cli.backup import backup, restore
from baryon.cli.deployment import deployment
from baryon.cli.drift import drift
from baryon.cli.git import connection, repository
from baryon.cli.importing import import_command, imports_group
from baryon.cli.instance import logs, status, stop
from baryon.cli.keys import keys
from baryon.cli.policy import policy
from baryon.cli.previews import previews
from baryon.cli.rollback import rollback
from baryon.cli.rollouts import rollouts
from baryon.cli.serve import cloud, server, up, worker
from baryon.cli.teams import teams
from baryon.cli.template import template
from baryon.cli.terraform import terraform
from baryon.cli.users import users

gc.freeze()
gc.enable()


@click.group()
@click.version_option(__version__, prog_name="baryon")
def cli() -> None:
    """Baryon: a self-hosted, Proton-compatible platform for infrastructure templates."""


cli.add_command(up)
cli.add_command(server)
cli.add_command(worker)
cli.add_command(cloud)
cli.add_command(keys)
cli.add_command(terraform)
cli.add_command(template)
cli.add_command(users)
cli.add_command(teams)
cli.add_command(deployment)
cli.add_command(connection)
cli.add_command(repository)
cli.add_command(import_command)
cli.add_command(imports_group)
cli.add_command(backup)
cli.add_command(restore)
cli.add_command(status)
cli.add_command(logs)
cli.add_command(stop)
cli.add_command(audit)
cli.add_command(policy)
cli.add_command(approvals)
cli.add_command(previews)
cli.add_command(protect)
cli.add_command(unprotect)
cli.add_command(rollback)
cli.add_command(drift)
cli.add_command(rollouts)


if __name__ == "__main__":
    cli()
