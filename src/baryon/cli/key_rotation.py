"""``baryon keys rotate-master``: every secret in the database sealed again with a new master
key (auth/key_rotation.py says how a rotation survives being interrupted)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import click
from cryptography.fernet import Fernet

from baryon.auth.key_rotation import (
    RegionDatabase,
    Resealed,
    StaleKeyFile,
    new_master_key,
    reseal_everywhere,
    rotate_key_file,
)
from baryon.auth.master_key import SealedValueUnreadable
from baryon.cli.failures import CliFailure, ExitStatus
from baryon.cli.local_store import open_runtime
from baryon.cli.options import OutputFormat, data_dir_option, output_option, settings_from
from baryon.cli.output import emit
from baryon.cli.serve import refused_start
from baryon.modes.instance_lock import InstanceLock
from baryon.modes.startup_errors import AlreadyRunning, StartupError
from baryon.runtime import Runtime
from baryon.settings import Settings

T = TypeVar("T")


@dataclass(frozen=True)
class RotationResult:
    # The key every value is now sealed with: printed only where it lives in no file (it must
    # be set as BARYON_MASTER_KEY on every replica), else None.
    new_master_key: str | None
    # Where the key lives now and where the replaced one is kept (a key file only).
    key_file: Path | None
    old_key_file: Path | None
    resealed: tuple[Resealed, ...]
    # What the operator does next, for people and scripts alike.
    next_step: str


@click.command("rotate-master")
@data_dir_option
@output_option
def rotate_master(data_dir: Path | None, output: OutputFormat) -> None:
    """Seal every secret (access keys, Terraform states and plans, connection secrets) with a
    new master key.

    With a key file (embedded mode): stop Baryon, run this, start it again. With
    BARYON_MASTER_KEY (scaled mode): run it once for a new key and the steps to take, then
    again with BARYON_MASTER_KEY_PREVIOUS set, as those steps say."""
    settings = settings_from(data_dir=data_dir)
    if settings.master_key and not settings.master_key_previous:
        result = _first_step(settings)
    elif settings.master_key:
        result = _reseal_with_previous(settings, data_dir)
    else:
        result = _rotate_key_file(settings, data_dir)
    emit(output, result, lambda: _print(result))


def _first_step(settings: Settings) -> RotationResult:
    """Nothing is re-sealed yet: replicas running the old key alone could not open the
    values, so every replica learns both keys first."""
    key = new_master_key()
    steps = (
        "on every server and worker, and where `baryon keys` runs, set "
        f"BARYON_MASTER_KEY_PREVIOUS to the current key and BARYON_MASTER_KEY={key}, "
        "restart them, then run `baryon keys rotate-master` again with both set; "
        "finally remove BARYON_MASTER_KEY_PREVIOUS everywhere"
    )
    return RotationResult(key, None, None, (), steps)


def _reseal_with_previous(settings: Settings, data_dir: Path | None) -> RotationResult:
    if settings.master_key_previous.strip() == settings.master_key.strip():
        raise CliFailure(
            ExitStatus.USAGE,
            "BARYON_MASTER_KEY_PREVIOUS is the same key as BARYON_MASTER_KEY",
            "set BARYON_MASTER_KEY to the new key and BARYON_MASTER_KEY_PREVIOUS to the old one",
        )
    for name, value in (
        ("BARYON_MASTER_KEY", settings.master_key),
        ("BARYON_MASTER_KEY_PREVIOUS", settings.master_key_previous),
    ):
        try:
            Fernet(value.strip().encode())
        except ValueError as exc:
            raise CliFailure(
                ExitStatus.NOT_CONFIGURED,
                f"{name} is not a valid key (32 url-safe base64-encoded bytes)",
                "set BARYON_MASTER_KEY to the new key, BARYON_MASTER_KEY_PREVIOUS to the old",
            ) from exc
    with open_runtime(data_dir) as runtime:
        resealed = _unless_unreadable(
            lambda: reseal_everywhere(
                _databases(runtime),
                settings.master_key.strip().encode(),
                [settings.master_key_previous.strip().encode()],
            )
        )
    steps = (
        "every secret is sealed with BARYON_MASTER_KEY: remove BARYON_MASTER_KEY_PREVIOUS "
        "from every server and worker and restart them"
    )
    return RotationResult(None, None, None, resealed, steps)


def _rotate_key_file(settings: Settings, data_dir: Path | None) -> RotationResult:
    with open_runtime(data_dir) as runtime:
        # Held while values move: a Baryon running on this directory would go on sealing
        # with the key it read when it started, and one starting now would read a stale file.
        try:
            lock = InstanceLock.acquire(settings.data_dir)
        except AlreadyRunning as error:
            raise CliFailure(
                ExitStatus.ALREADY_RUNNING,
                error.what,
                f"stop it first (`baryon stop --data-dir {settings.data_dir}`): it holds the "
                "current key in memory",
            ) from error
        except StartupError as error:
            raise refused_start(error) from error
        try:
            rotation = _unless_unreadable(
                lambda: rotate_key_file(settings.master_key_file, _databases(runtime))
            )
        finally:
            lock.release()
    steps = (
        f"start Baryon again; the old key stays in {rotation.old_key_file} until a start "
        "succeeds. Backups taken before now hold the old key"
    )
    return RotationResult(None, rotation.key_file, rotation.old_key_file, rotation.resealed, steps)


def _databases(runtime: Runtime) -> list[RegionDatabase]:
    return [RegionDatabase(cell.region, cell.db) for cell in runtime.cells]


def _unless_unreadable(rotate: Callable[[], T]) -> T:
    try:
        return rotate()
    except SealedValueUnreadable as exc:
        raise CliFailure(
            ExitStatus.CREDENTIALS_REFUSED,
            "a secret in the database opens with neither the current nor the previous "
            "master key; nothing was changed in that region's database",
            "set the keys the database was sealed with (BARYON_MASTER_KEY, "
            "BARYON_MASTER_KEY_PREVIOUS, or the data directory's master.key)",
        ) from exc
    except StaleKeyFile as exc:
        raise CliFailure(
            ExitStatus.INVALID_INPUT, str(exc), "restore it from a backup of the data directory"
        ) from exc


def _print(result: RotationResult) -> None:
    values = sum(count.values for count in result.resealed)
    databases = len({count.region for count in result.resealed})
    if result.new_master_key is not None:
        click.echo(f"new master key: {result.new_master_key}")
    elif result.key_file is not None:
        click.echo(
            f"sealed {values} secret(s) in {databases} region database(s) again with a new "
            f"master key in {result.key_file}"
        )
    else:
        click.echo(
            f"sealed {values} secret(s) in {databases} region database(s) again with "
            "BARYON_MASTER_KEY"
        )
    click.echo(f"next: {result.next_step}")
