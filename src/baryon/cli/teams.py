"""``baryon teams``: teams of users and robots, and the roles every member gets through them
(run on the server's machine). OpenID Connect groups map to teams (docs/users-and-sign-in.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from baryon.auth import identities
from baryon.auth.identities import TeamRecord
from baryon.cli.failures import CliFailure, ExitStatus
from baryon.cli.options import OutputFormat, data_dir_option, output_option
from baryon.cli.output import Column, emit, emit_rows
from baryon.cli.users import identity_session


@click.group()
def teams() -> None:
    """Create and delete teams, add and remove members, grant and revoke the team's roles."""


@teams.command("create")
@click.argument("name")
@click.option("--description", default="", help="What the team is.")
@click.option("--role", "roles", multiple=True, help="A role every member gets; repeat for more.")
@data_dir_option
def create(name: str, description: str, roles: tuple[str, ...], data_dir: Path | None) -> None:
    """Create a team."""
    with identity_session(data_dir, write=True) as session:
        identities.create_team(session, name, datetime.now(UTC), description)
        for role in roles:
            identities.grant_team_role(session, name, role)
    click.echo(f"created team {name}")


@teams.command("list")
@data_dir_option
@output_option
def list_command(data_dir: Path | None, output: OutputFormat) -> None:
    """List teams with their roles and members."""
    with identity_session(data_dir) as session:
        found = identities.list_teams(session)
    columns = (
        Column("Team", "name"),
        Column("Roles", "roles"),
        Column("Members", "members"),
        Column("Description", "description"),
    )
    emit_rows(output, "teams", found, columns)


@teams.command("show")
@click.argument("name")
@data_dir_option
@output_option
def show(name: str, data_dir: Path | None, output: OutputFormat) -> None:
    """Show one team."""
    with identity_session(data_dir) as session:
        team = identities.get_team(session, name)
    emit(output, team, lambda: _print_team(team))


def _print_team(team: TeamRecord) -> None:
    click.echo(f"Team:        {team.name}")
    if team.description:
        click.echo(f"Description: {team.description}")
    click.echo(f"Roles:       {', '.join(team.roles) or '-'}")
    click.echo(f"Members:     {', '.join(team.members) or '-'}")


@teams.command("delete")
@click.argument("name")
@data_dir_option
def delete(name: str, data_dir: Path | None) -> None:
    """Delete a team: its members lose the roles they had through it."""
    with identity_session(data_dir, write=True) as session:
        identities.delete_team(session, name)
    click.echo(f"deleted team {name}")


@teams.command("add-member")
@click.argument("team")
@click.argument("user")
@data_dir_option
def add_member(team: str, user: str, data_dir: Path | None) -> None:
    """Add a user or robot to a team (kept whatever an OpenID Connect provider says)."""
    with identity_session(data_dir, write=True) as session:
        changed = identities.add_member(session, team, user)
    click.echo(f"added {user} to {team}" if changed else f"{user} is already in {team}")


@teams.command("remove-member")
@click.argument("team")
@click.argument("user")
@data_dir_option
def remove_member(team: str, user: str, data_dir: Path | None) -> None:
    """Take a user or robot out of a team."""
    with identity_session(data_dir, write=True) as session:
        changed = identities.remove_member(session, team, user)
    if not changed:
        raise CliFailure(ExitStatus.REFUSED, f"{user} is not in {team}", "see `baryon teams show`")
    click.echo(f"removed {user} from {team}")


@teams.command("grant")
@click.argument("team")
@click.argument("role")
@data_dir_option
def grant(team: str, role: str, data_dir: Path | None) -> None:
    """Grant a role to every member of a team."""
    with identity_session(data_dir, write=True) as session:
        changed = identities.grant_team_role(session, team, role)
    click.echo(f"granted {role} to {team}" if changed else f"{team} already has {role}")


@teams.command("revoke")
@click.argument("team")
@click.argument("role")
@data_dir_option
def revoke(team: str, role: str, data_dir: Path | None) -> None:
    """Take a role from a team."""
    with identity_session(data_dir, write=True) as session:
        changed = identities.revoke_team_role(session, team, role)
    if not changed:
        raise CliFailure(
            ExitStatus.REFUSED, f"{team} has no role {role}", "see `baryon teams show`"
        )
    click.echo(f"revoked {role} from {team}")
