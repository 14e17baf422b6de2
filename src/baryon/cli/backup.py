"""``baryon backup`` and ``baryon restore``: an embedded Baryon's data directory, copied while
it runs (modes/backup.py says what is in a backup and why in that order)."""

from __future__ import annotations

from pathlib import Path

import click

from baryon.cli.failures import CliFailure, ExitStatus
from baryon.cli.options import data_dir_option, settings_from
from baryon.modes.backup import BackupError, RestoreError, restore_backup, take_backup


def _progress(text: str) -> None:
    click.echo(f"... {text}", err=True)


@click.command()
@data_dir_option
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def backup(data_dir: Path | None, out: Path) -> None:
    """Write a backup of the data directory to OUT (a .tar.gz), safe while Baryon runs.

    It holds the database, the master key, the local cloud's state, hosted git repositories
    and the config and env files: keep it as private as the data directory. PostgreSQL
    (scaled mode) is backed up with pg_dump instead.
    """
    settings = settings_from(data_dir=data_dir)
    if not out.parent.is_dir():
        raise CliFailure(
            ExitStatus.USAGE, f"{out.parent} is not a directory", "name a file in one that exists"
        )
    try:
        manifest = take_backup(settings, out, _progress)
    except BackupError as exc:
        raise CliFailure(ExitStatus.DATA_DIR_UNUSABLE, str(exc)) from exc
    except OSError as exc:
        raise CliFailure(
            ExitStatus.DATA_DIR_UNUSABLE,
            f"cannot back up {settings.data_dir} to {out}: {exc.strerror or exc}",
            "check both paths' permissions and free space",
        ) from exc
    click.echo(f"backed up {settings.data_dir} to {out} ({', '.join(manifest.parts)})")
    if not manifest.master_key_included:
        click.echo("the master key came from BARYON_MASTER_KEY: it is not in the backup; keep it")


@click.command()
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
@data_dir_option
def restore(archive: Path, data_dir: Path | None) -> None:
    """Restore the backup ARCHIVE into a new, empty data directory.

    `baryon up --data-dir` on it then resumes the deployments that were running when the
    backup was taken; the access keys stay as they were.
    """
    if data_dir is None:
        raise CliFailure(
            ExitStatus.USAGE, "restore needs --data-dir", "name a new, empty data directory"
        )
    if not archive.is_file():
        raise CliFailure(ExitStatus.INVALID_INPUT, f"no backup at {archive}")
    try:
        manifest = restore_backup(archive, data_dir, _progress)
    except RestoreError as exc:
        raise CliFailure(ExitStatus.INVALID_INPUT, str(exc)) from exc
    except OSError as exc:
        raise CliFailure(
            ExitStatus.DATA_DIR_UNUSABLE,
            f"cannot restore into {data_dir}: {exc.strerror or exc}",
            "check its parent's permissions and free space",
        ) from exc
    click.echo(f"restored {archive} (taken {manifest.created_at}) into {data_dir}")
    if not manifest.master_key_included:
        click.echo("set BARYON_MASTER_KEY to the key the backed-up Baryon used before starting")
    click.echo(f"start it with: baryon up --data-dir {data_dir}")
