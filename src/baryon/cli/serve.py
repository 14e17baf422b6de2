"""``baryon up`` and ``baryon cloud``: the commands that run servers."""

from __future__ import annotations

from pathlib import Path

import click

from baryon.cli.failures import CliFailure, ExitStatus
from baryon.cli.options import data_dir_option, settings_from
from baryon.modes.startup_errors import (
    AlreadyRunning,
    DatabaseUnreachable,
    DataDirUnusable,
    NotConfigured,
    PortInUse,
    StartupError,
)
from baryon.observability.logs import configure_logging

# Each mistake its own exit status, so scripts (and systemd) can tell them apart.
EXIT_STATUSES: dict[type[StartupError], ExitStatus] = {
    PortInUse: ExitStatus.PORT_IN_USE,
    DataDirUnusable: ExitStatus.DATA_DIR_UNUSABLE,
    AlreadyRunning: ExitStatus.ALREADY_RUNNING,
    NotConfigured: ExitStatus.NOT_CONFIGURED,
    DatabaseUnreachable: ExitStatus.DATABASE_UNREACHABLE,
}


def refused_start(error: StartupError) -> CliFailure:
    """The one line and exit status for a process that could not start."""
    status = next(
        (code for kind, code in EXIT_STATUSES.items() if isinstance(error, kind)),
        ExitStatus.REFUSED,
    )
    return CliFailure(status, error.what, error.action)


@click.command()
@click.option(
    "--port", type=int, default=None, help="API port on the host (default 8300; 0 = any)."
)
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@data_dir_option
def up(port: int | None, host: str | None, data_dir: Path | None) -> None:
    """Run Baryon in embedded mode: API, workers, SQLite and a local cloud, all offline."""
    from baryon.modes.embedded import run_embedded

    settings = settings_from(port=port, host=host, data_dir=data_dir)
    configure_logging(settings.log_level, settings.log_format)
    try:
        run_embedded(settings, announce=lambda text: click.echo(text, err=False))
    except StartupError as error:
        raise refused_start(error) from error


@click.command()
@click.option("--port", type=int, default=None, help="API port (default 8300).")
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option(
    "--processes",
    type=click.IntRange(min=1),
    default=None,
    help="Server processes sharing the port, each using a core (default 1).",
)
def server(port: int | None, host: str | None, processes: int | None) -> None:
    """Run a stateless API (and portal) server for scaled mode (BARYON_DATABASE_URL)."""
    from baryon.modes.scaled import run_server

    settings = settings_from(port=port, host=host, server_processes=processes)
    configure_logging(settings.log_level, settings.log_format)
    try:
        run_server(settings, announce=click.echo)
    except StartupError as error:
        raise refused_start(error) from error


@click.command()
@click.option("--threads", type=int, default=None, help="Jobs run at once (default 2).")
@click.option("--metrics-port", type=int, default=None, help="Serve /metrics on this port.")
def worker(threads: int | None, metrics_port: int | None) -> None:
    """Run a worker for scaled mode: claims jobs from the database and runs them."""
    from baryon.modes.scaled import run_worker

    settings = settings_from()
    configure_logging(settings.log_level, settings.log_format)
    try:
        run_worker(settings, threads or settings.worker_threads, metrics_port, announce=click.echo)
    except StartupError as error:
        raise refused_start(error) from error


@click.command()
@click.option("--port", type=int, default=8301, show_default=True, help="Port (0 = any).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Keep the cloud's state in this file across restarts.",
)
def cloud(port: int, host: str, state_file: Path | None) -> None:
    """Run only the local cloud (S3, CloudFormation, IAM, STS, ...) for scaled mode."""
    from baryon.cloud.server import serve

    serve(
        host,
        port,
        state_file,
        on_ready=lambda p: click.echo(f"baryon local cloud listening on http://{host}:{p}"),
    )
