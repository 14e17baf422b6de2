"""``baryon status``, ``baryon logs`` and ``baryon stop``: the embedded Baryon running on a
data directory, found by the lock it holds there (modes/instance_lock.py), never by a pid
file a crash could leave behind."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import click

from baryon.cli.failures import CliFailure, ExitStatus
from baryon.cli.options import OutputFormat, data_dir_option, output_option, settings_from
from baryon.cli.output import emit
from baryon.modes.instance_lock import InstanceRecord, InstanceState, is_held, running_instance
from baryon.modes.job_counts import JobCounts, count_served_jobs
from baryon.modes.log_file import CLOUD_LOG_FILE_NAME, LOG_FILE_NAME

# Longer than a stop takes with jobs in flight: the workers' grace (20 s), the API's (10 s)
# and the local cloud's last snapshot.
DEFAULT_STOP_TIMEOUT_SECONDS = 90.0
# `baryon logs` without --lines shows this many, as tail does (ten is too few for a stack).
DEFAULT_LOG_LINES = 50
# Lines are read from the end in blocks; a line longer than the file's tail is shown cut.
_TAIL_BLOCK_BYTES = 64 * 1024


@dataclass(frozen=True)
class Status:
    running: bool
    data_dir: str
    state: InstanceState | None = None
    pid: int | None = None
    endpoint: str | None = None
    cloud_endpoint: str | None = None
    regions: tuple[str, ...] = ()
    uptime_seconds: float | None = None
    jobs_running: int | None = None
    jobs_due: int | None = None
    log_file: str | None = None


@click.command()
@data_dir_option
@output_option
def status(data_dir: Path | None, output: OutputFormat) -> None:
    """Whether Baryon runs on the data directory: endpoint, regions, pid, uptime, jobs.

    Exit status 0 when it runs, 10 when it does not."""
    directory = _data_dir(data_dir)
    record = running_instance(directory)
    if record is None:
        found = Status(running=False, data_dir=str(directory))
        emit(output, found, lambda: click.echo(f"Baryon is not running on {directory}."))
        click.get_current_context().exit(int(ExitStatus.NOT_RUNNING))
    jobs = _jobs(record)
    found = Status(
        running=True,
        data_dir=record.data_dir,
        state=record.state,
        pid=record.pid,
        endpoint=record.api_url,
        cloud_endpoint=record.cloud_url,
        regions=tuple(record.region.split(",")) if record.region else (),
        uptime_seconds=round(time.time() - record.started_at, 1),
        jobs_running=jobs.running if jobs else None,
        jobs_due=jobs.due if jobs else None,
        log_file=record.log_file,
    )
    emit(output, found, lambda: _print_status(found))


def _print_status(found: Status) -> None:
    jobs = (
        f"{found.jobs_running} running, {found.jobs_due} waiting to run"
        if found.jobs_running is not None
        else "unknown (the database could not be read)"
    )
    click.echo(
        f"Baryon is {found.state} on {found.data_dir}\n"
        f"  endpoint:     {found.endpoint}\n"
        f"  local cloud:  {found.cloud_endpoint}\n"
        f"  regions:      {', '.join(found.regions)}\n"
        f"  pid:          {found.pid}\n"
        f"  uptime:       {_duration(found.uptime_seconds or 0.0)}\n"
        f"  jobs:         {jobs}\n"
        f"  log:          {found.log_file}"
    )


@click.command()
@data_dir_option
@click.option(
    "--timeout",
    type=float,
    default=DEFAULT_STOP_TIMEOUT_SECONDS,
    show_default=True,
    help="Seconds to wait for Baryon to stop before giving up (it keeps stopping).",
)
def stop(data_dir: Path | None, timeout: float) -> None:
    """Stops the Baryon running on the data directory (SIGTERM) and waits until it has:
    jobs in flight finish or are handed back to the next start.

    Exit status 0 once stopped, 10 when none runs."""
    directory = _data_dir(data_dir)
    record = running_instance(directory)
    if record is None or not record.pid:
        raise CliFailure(
            ExitStatus.NOT_RUNNING,
            f"no Baryon runs on {directory}",
            "nothing to stop (start one with `baryon up`)",
        )
    click.echo(f"stopping Baryon (pid {record.pid}, {record.api_url})...")
    try:
        os.kill(record.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass  # it ended between the look and the signal; the wait below sees the lock go
    except PermissionError as exc:
        raise CliFailure(
            ExitStatus.REFUSED,
            f"not allowed to stop pid {record.pid}: it belongs to another user",
            "run `baryon stop` as that user",
        ) from exc
    _wait_until_stopped(record, timeout)
    click.echo("Baryon stopped.")


def _wait_until_stopped(record: InstanceRecord, timeout: float) -> None:
    directory = Path(record.data_dir)
    deadline = time.monotonic() + timeout
    said: int | None = None
    while is_held(directory):
        if time.monotonic() > deadline:
            raise CliFailure(
                ExitStatus.REFUSED,
                f"Baryon (pid {record.pid}) is still stopping after {timeout:.0f} s",
                f"wait, see `baryon logs --data-dir {directory}`, "
                f"or end it at once with `kill -9 {record.pid}`",
            )
        jobs = _jobs(record)
        if jobs is not None and jobs.running and jobs.running != said:
            click.echo(
                f"  waiting for {jobs.running} job(s) in flight to finish or be handed back..."
            )
            said = jobs.running
        time.sleep(0.2)


@click.command()
@data_dir_option
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until Baryon stops.")
@click.option(
    "-n",
    "--lines",
    type=click.IntRange(min=0),
    default=DEFAULT_LOG_LINES,
    show_default=True,
    help="How many of the last lines to show first.",
)
@click.option("--cloud", is_flag=True, help="The local cloud's log instead of Baryon's.")
def logs(data_dir: Path | None, follow: bool, lines: int, cloud: bool) -> None:
    """The log of the Baryon on the data directory (<data dir>/logs/baryon.log)."""
    directory = _data_dir(data_dir)
    path = directory / "logs" / (CLOUD_LOG_FILE_NAME if cloud else LOG_FILE_NAME)
    if not path.is_file():
        raise CliFailure(
            ExitStatus.NOT_RUNNING,
            f"no log at {path}",
            "Baryon has not run on this data directory (pass --data-dir if it ran elsewhere)",
        )
    for line in _last_lines(path, lines):
        click.echo(line)
    if follow:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a follow ends
            _follow(path, directory)


def _last_lines(path: Path, count: int) -> list[str]:
    if count == 0:
        return []
    with path.open("rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        start, data = end, b""
        while start > 0 and data.count(b"\n") <= count:
            start = max(0, start - _TAIL_BLOCK_BYTES)
            handle.seek(start)
            data = handle.read(end - start)
    text = data.decode("utf-8", "replace").splitlines()
    return text[-count:]


def _follow(path: Path, directory: Path) -> None:
    """Prints what is appended until Baryon lets go of the data directory; a rotated log
    (a new file under the name) is followed from its start."""
    handle = path.open("rb")
    handle.seek(0, os.SEEK_END)
    inode = os.fstat(handle.fileno()).st_ino
    try:
        while True:
            chunk = handle.readline()
            if chunk:
                click.echo(chunk.decode("utf-8", "replace").rstrip("\n"))
                continue
            if not is_held(directory):
                for rest in handle:
                    click.echo(rest.decode("utf-8", "replace").rstrip("\n"))
                return
            try:
                rotated = path.stat().st_ino != inode
            except FileNotFoundError:
                rotated = False
            if rotated:
                handle.close()
                handle = path.open("rb")
                inode = os.fstat(handle.fileno()).st_ino
                continue
            time.sleep(0.2)
    finally:
        handle.close()


def _data_dir(data_dir: Path | None) -> Path:
    """The flag, else the settings' data directory: the one `baryon up` uses with them."""
    return data_dir if data_dir is not None else settings_from().data_dir


def _jobs(record: InstanceRecord) -> JobCounts | None:
    return count_served_jobs(settings_from(data_dir=Path(record.data_dir)), record.region)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"
