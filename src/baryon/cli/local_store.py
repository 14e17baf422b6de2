"""The store of the Baryon this machine runs, for the commands that work on it directly
(``baryon keys``, ``users``, ``terraform state``): never another one.

Without ``--data-dir`` they use the data directory the settings name, which is the one
``baryon up`` uses with the same settings. A store is only ever opened, never created: a key
written into a fresh database (or sealed with a fresh master key) would be one the running
server refuses, so a missing database or master key is a mistake said in one line.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from baryon.cli.failures import CliFailure, ExitStatus
from baryon.cli.options import settings_from
from baryon.runtime import Runtime, build_runtime
from baryon.settings import Settings

# The SQLite file of embedded mode (Settings.sqlalchemy_url).
DATABASE_FILE = "baryon.db"


@contextmanager
def open_runtime(data_dir: Path | None) -> Iterator[Runtime]:
    """The runtime of the existing store; what goes wrong with the database is one line."""
    settings = settings_from(data_dir=data_dir)
    _check_exists(settings, data_dir)
    try:
        runtime = build_runtime(settings)
    except OSError as exc:
        raise _unusable(settings.data_dir, exc.strerror or str(exc)) from exc
    except SQLAlchemyError as exc:
        raise _database_failure(settings, exc) from exc
    try:
        yield runtime
    except SQLAlchemyError as exc:
        raise _database_failure(settings, exc) from exc
    finally:
        runtime.close()


def _check_exists(settings: Settings, data_dir: Path | None) -> None:
    flag = "" if data_dir is not None else " or pass --data-dir"
    if not settings.database_url:
        database = settings.data_dir / DATABASE_FILE
        try:
            found = database.is_file()
        except OSError as exc:  # a directory on the way that may not be entered
            raise _unusable(settings.data_dir, exc.strerror or str(exc)) from exc
        if not found:
            raise CliFailure(
                ExitStatus.NOT_CONFIGURED,
                f"no Baryon data directory at {settings.data_dir} (no {DATABASE_FILE})",
                f"run `baryon up` first{flag}",
            )
    if not settings.master_key and not settings.master_key_file.is_file():
        what = (
            "BARYON_DATABASE_URL is set but BARYON_MASTER_KEY is not"
            if settings.database_url
            else f"no master key at {settings.master_key_file}"
        )
        raise CliFailure(
            ExitStatus.NOT_CONFIGURED,
            what,
            "set BARYON_MASTER_KEY to the key every server uses"
            + ("" if settings.database_url else f"{flag} (the server's data directory)"),
        )


def _unusable(data_dir: Path, reason: str) -> CliFailure:
    return CliFailure(
        ExitStatus.DATA_DIR_UNUSABLE,
        f"cannot use the data directory {data_dir}: {reason}",
        "run as the user who runs `baryon up`, or fix the directory's permissions",
    )


def _database_failure(settings: Settings, exc: SQLAlchemyError) -> CliFailure:
    detail = " ".join(str(exc.orig if isinstance(exc, DBAPIError) else exc).split())
    if settings.database_url:
        return CliFailure(
            ExitStatus.DATABASE_UNREACHABLE,
            f"cannot use the database of BARYON_DATABASE_URL: {detail[:300]}",
            "check that PostgreSQL runs and the URL, user and password are right",
        )
    return _unusable(settings.data_dir, detail[:300])
