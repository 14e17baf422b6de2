"""Backups of an embedded Baryon's data directory, taken while it runs, and their restore.

What a data directory holds that cannot be made again: the SQLite databases (the home
region's, and one per other region under ``regions/``), the master key that decrypts the
access-key secrets and Terraform states in them, the local cloud's state file, hosted git
repositories (``git/``), the config file and the env file. Logs, the git cache and ``work/``
are left out: they are made again or are scratch.

Order matters for a consistent pair. The database is copied first, with SQLite's online
backup API (one read transaction, so writers carry on and the copy is one moment of it);
then the local cloud is made to save a snapshot that is younger than that copy. The cloud
is then at or ahead of the database, which is what a crash leaves too (the local cloud
snapshots as its parent dies) and what deployments resume from: a stack that the database
does not know yet is found and awaited, never created twice. The other way round, a
deployment could look for a stack that the restored cloud never saw.

A PostgreSQL database is the operator's to back up (pg_dump); this module refuses it.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from baryon import __version__
from baryon.settings import Settings

FORMAT = 1
MANIFEST = "manifest.json"
DATABASE = "baryon.db"
MASTER_KEY = "master.key"
CLOUD_STATE = "local-cloud.state"
CONFIG = "baryon.toml"
ENV_FILE = "env"
GIT_HOSTING = "git"
# Regions other than the home one keep a database each under this folder (modes/regions.py).
REGIONS = "regions"
# Files a backup may hold at its top level; anything else in an archive is refused.
_FILES = (DATABASE, MASTER_KEY, CLOUD_STATE, CONFIG, ENV_FILE)
# How long a running local cloud may take to save a snapshot younger than the database
# copy: it saves every 5 s while anything changed, and postpones while requests keep it busy.
CLOUD_SNAPSHOT_TIMEOUT_SECONDS = 60.0
# A manifest is a few hundred bytes; anything far larger is not one of ours.
_MAX_MANIFEST_BYTES = 64 * 1024

Progress = Callable[[str], None]


class BackupError(Exception):
    """A backup cannot be taken; the message says why and what to do."""


class RestoreError(Exception):
    """A backup cannot be restored; the message says why and what to do."""


@dataclass(frozen=True)
class BackupManifest:
    format: int
    baryon_version: str
    created_at: str
    # The database's Alembic revision: a newer Baryon migrates it at start, an older one
    # does not know it.
    schema_revision: str
    # The files and folders the archive holds, besides the manifest.
    parts: tuple[str, ...]
    # False when the master key came from BARYON_MASTER_KEY: then it is not in the backup,
    # and the restored Baryon needs the same variable.
    master_key_included: bool

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2).encode() + b"\n"

    @classmethod
    def from_json(cls, raw: bytes) -> BackupManifest:
        try:
            data = json.loads(raw)
            return cls(
                format=int(data["format"]),
                baryon_version=str(data["baryon_version"]),
                created_at=str(data["created_at"]),
                schema_revision=str(data["schema_revision"]),
                parts=tuple(str(part) for part in data["parts"]),
                master_key_included=bool(data["master_key_included"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise RestoreError(f"{MANIFEST}: not a Baryon backup manifest ({exc})") from exc


# --- Taking a backup ---------------------------------------------------------------------------


def take_backup(settings: Settings, out: Path, progress: Progress) -> BackupManifest:
    """Writes a backup of ``settings.data_dir`` to ``out`` (a gzipped tar, private to the
    user: it holds the master key). Safe while Baryon runs on that directory."""
    data_dir = settings.data_dir
    if settings.database_url and not settings.database_url.startswith("sqlite"):
        raise BackupError(
            "the database is not SQLite in the data directory (BARYON_DATABASE_URL is set); "
            "back up PostgreSQL with pg_dump and keep BARYON_MASTER_KEY with it"
        )
    database = Path(settings.sqlalchemy_url.removeprefix("sqlite:///"))
    if not database.is_file():
        raise BackupError(
            f"no Baryon database at {database}; name the data directory with --data-dir"
        )
    if out.exists():
        raise BackupError(f"{out} already exists; name a new file")
    with tempfile.TemporaryDirectory(prefix=".baryon-backup-", dir=out.parent) as scratch:
        staging = Path(scratch)
        progress(f"copying the database {database}")
        revision = _copy_database(database, staging / DATABASE)
        parts = [DATABASE]
        region_databases = sorted((data_dir / REGIONS).glob("*.db"))
        if region_databases:
            (staging / REGIONS).mkdir()
            for region_database in region_databases:
                progress(f"copying the database {region_database}")
                _copy_database(region_database, staging / REGIONS / region_database.name)
            parts.append(REGIONS)
        copied_at = time.time()
        cloud_state = data_dir / CLOUD_STATE
        if cloud_state.exists() or _cloud_running(cloud_state):
            _fresh_cloud_snapshot(data_dir, cloud_state, copied_at, progress)
            shutil.copy2(cloud_state, staging / CLOUD_STATE)
            parts.append(CLOUD_STATE)
        master_key_included = not settings.master_key
        if master_key_included:
            key_file = settings.master_key_file
            if not key_file.is_file():
                raise BackupError(f"no master key at {key_file} and BARYON_MASTER_KEY is not set")
            shutil.copy2(key_file, staging / MASTER_KEY)
            parts.append(MASTER_KEY)
        for name in (CONFIG, ENV_FILE):
            if (data_dir / name).is_file():
                shutil.copy2(data_dir / name, staging / name)
                parts.append(name)
        if (data_dir / GIT_HOSTING).is_dir():
            progress("copying hosted git repositories")
            # Objects never change once written; a ref moved during the copy shows its old or
            # new commit, both of which are in the objects copied after it.
            _copy_git(data_dir / GIT_HOSTING, staging / GIT_HOSTING)
            parts.append(GIT_HOSTING)
        manifest = BackupManifest(
            format=FORMAT,
            baryon_version=__version__,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            schema_revision=revision,
            parts=tuple(parts),
            master_key_included=master_key_included,
        )
        progress(f"writing {out}")
        _write_archive(staging, manifest, out)
    return manifest


def _copy_database(source: Path, target: Path) -> str:
    """SQLite's online backup: a consistent copy while other processes write."""
    reader = sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True, timeout=30)
    writer = sqlite3.connect(target)
    try:
        reader.backup(writer)  # all pages in one step: one read transaction, one moment
        checked = writer.execute("PRAGMA quick_check").fetchone()
        if checked is None or checked[0] != "ok":
            raise BackupError(f"the copy of {source} fails SQLite's check: {checked}")
        row = writer.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"cannot copy the database {source}: {exc}") from exc
    finally:
        writer.close()
        reader.close()
    return str(row[0]) if row else ""


def _cloud_running(state_file: Path) -> bool:
    """A running local cloud holds an flock on ``<state file>.lock`` (cloud/state.py)."""
    import fcntl

    lock_file = state_file.with_name(f"{state_file.name}.lock")
    if not lock_file.exists():
        return False
    fd = os.open(lock_file, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock we got
    return False


def _fresh_cloud_snapshot(
    data_dir: Path, state_file: Path, after: float, progress: Progress
) -> None:
    """Waits until a running local cloud has saved its state after ``after``."""
    if not _cloud_running(state_file):
        return  # stopped: the file is its last word
    progress("waiting for the local cloud to save a snapshot")
    _touch_cloud(data_dir)
    deadline = time.monotonic() + CLOUD_SNAPSHOT_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        with suppress(FileNotFoundError):
            if state_file.stat().st_mtime > after:
                return
        if not _cloud_running(state_file):
            return  # it stopped, and saved as it stopped
        time.sleep(0.2)
    raise BackupError(
        f"the local cloud did not save its state within {CLOUD_SNAPSHOT_TIMEOUT_SECONDS:.0f} s; "
        f"try again (its log: {data_dir / 'logs' / 'local-cloud.log'})"
    )


def _touch_cloud(data_dir: Path) -> None:
    """The local cloud saves only when a request may have changed something; a harmless
    POST (STS GetCallerIdentity) makes sure that it saves once more."""
    import boto3

    exports = _read_env_file(data_dir / ENV_FILE)
    endpoint = exports.get("AWS_ENDPOINT_URL_STS")
    if not endpoint:
        return  # it saves anyway if anything changed since its last snapshot
    sts = boto3.session.Session().client(
        "sts",
        endpoint_url=endpoint,
        region_name=exports.get("AWS_DEFAULT_REGION") or "us-east-1",
        aws_access_key_id="baryon-backup",
        aws_secret_access_key="baryon-backup",
    )
    with suppress(Exception):  # only the snapshot matters, which the wait checks
        sts.get_caller_identity()


def _read_env_file(path: Path) -> dict[str, str]:
    exports: dict[str, str] = {}
    with suppress(OSError):
        for line in path.read_text().splitlines():
            words = shlex.split(line)
            if len(words) == 2 and words[0] == "export" and "=" in words[1]:
                name, _, value = words[1].partition("=")
                exports[name] = value
    return exports


def _copy_git(source: Path, target: Path) -> None:
    # Objects first, refs last: every ref then names objects that were copied.
    shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns("*.lock"))
    for repository in source.glob("*/*.git"):
        for name in ("refs", "packed-refs", "HEAD"):
            origin, copy = repository / name, target / repository.relative_to(source) / name
            if origin.is_dir():
                shutil.copytree(origin, copy, dirs_exist_ok=True)
            elif origin.is_file():
                shutil.copy2(origin, copy)


def _write_archive(staging: Path, manifest: BackupManifest, out: Path) -> None:
    temporary = out.with_name(f".{out.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as archive:
            info = tarfile.TarInfo(MANIFEST)
            body = manifest.to_json()
            info.size, info.mode, info.mtime = len(body), 0o600, int(time.time())
            archive.addfile(info, io.BytesIO(body))
            for part in manifest.parts:
                archive.add(staging / part, arcname=part)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temporary, out)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary)
        raise


# --- Restoring ---------------------------------------------------------------------------------


def restore_backup(archive_path: Path, data_dir: Path, progress: Progress) -> BackupManifest:
    """Unpacks a backup into ``data_dir``, which must be new or empty. ``baryon up`` on it
    then resumes the deployments that were running when the backup was taken."""
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise RestoreError(f"{data_dir} is not empty; restore into a new data directory")
    with _open_archive(archive_path) as archive:
        manifest = _read_manifest(archive, archive_path)
        members = _checked_members(archive, archive_path)
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        with _staging_beside(data_dir) as staging:
            progress(f"unpacking {archive_path}")
            try:
                archive.extractall(staging, members=members, filter="data")
            except (OSError, tarfile.TarError) as exc:
                raise RestoreError(f"{archive_path}: cannot unpack ({exc})") from exc
            for database in (staging / DATABASE, *(staging / REGIONS).glob("*.db")):
                _check_restored_database(database, archive_path)
                os.chmod(database, 0o600)
            for name in (DATABASE, MASTER_KEY, CLOUD_STATE, ENV_FILE, CONFIG):
                with suppress(FileNotFoundError):
                    os.chmod(staging / name, 0o600)
            os.chmod(staging, 0o700)
            if data_dir.exists():
                data_dir.rmdir()  # empty, checked above
            os.replace(staging, data_dir)
    return manifest


@contextmanager
def _open_archive(path: Path) -> Iterator[tarfile.TarFile]:
    try:
        archive = tarfile.open(path, mode="r:gz")  # noqa: SIM115  (closed below)
    except (OSError, tarfile.TarError) as exc:
        raise RestoreError(f"{path}: not a Baryon backup ({exc})") from exc
    with archive:
        yield archive


def _read_manifest(archive: tarfile.TarFile, path: Path) -> BackupManifest:
    try:
        member = archive.getmember(MANIFEST)
    except KeyError:
        raise RestoreError(f"{path}: no {MANIFEST}; not a Baryon backup") from None
    handle = archive.extractfile(member) if member.isfile() else None
    if handle is None or member.size > _MAX_MANIFEST_BYTES:
        raise RestoreError(f"{path}: {MANIFEST} is not a manifest")
    manifest = BackupManifest.from_json(handle.read())
    if manifest.format != FORMAT:
        raise RestoreError(
            f"{path}: backup format {manifest.format}; this Baryon reads format {FORMAT}"
        )
    if DATABASE not in manifest.parts:
        raise RestoreError(f"{path}: the backup holds no database")
    return manifest


def _checked_members(archive: tarfile.TarFile, path: Path) -> list[tarfile.TarInfo]:
    """Only the parts a backup has, as plain files and folders (git/ keeps its tree)."""
    members = []
    for member in archive.getmembers():
        top = member.name.split("/", 1)[0]
        if member.name == MANIFEST:
            continue
        allowed = (
            member.name in _FILES
            or (top == GIT_HOSTING and ".." not in member.name)
            or member.name == REGIONS
            or (_is_region_database(member.name) and member.isfile())
        )
        if not allowed or not (member.isfile() or member.isdir()):
            raise RestoreError(f"{path}: unexpected entry {member.name!r}; not a Baryon backup")
        members.append(member)
    return members


def _is_region_database(name: str) -> bool:
    folder, _, file_name = name.partition("/")
    return folder == REGIONS and "/" not in file_name and file_name.endswith(".db")


@contextmanager
def _staging_beside(data_dir: Path) -> Iterator[Path]:
    """A private folder on the same file system, renamed into place when complete, so an
    interrupted restore never leaves half a data directory."""
    staging = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.restore-", dir=data_dir.parent))
    try:
        yield staging
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _check_restored_database(path: Path, archive_path: Path) -> None:
    try:
        connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            checked = connection.execute("PRAGMA quick_check").fetchone()
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise RestoreError(f"{archive_path}: its database is unreadable ({exc})") from exc
    if checked is None or checked[0] != "ok":
        raise RestoreError(f"{archive_path}: its database fails SQLite's check ({checked})")
