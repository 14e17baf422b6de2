"""Embedded mode (``baryon up``): API, workers, SQLite and a local cloud in one process tree."""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import uvicorn

from baryon.app import create_app
from baryon.auth.access_keys import create_access_key, list_access_keys, read_secret
from baryon.auth.key_rotation import RegionDatabase, forget_replaced_key
from baryon.cloud.process import LocalCloudProcess
from baryon.modes.cloud_readiness import CloudReadiness
from baryon.modes.data_dir import WHAT_TO_DO, prepare_data_dir
from baryon.modes.env_file import env_exports, render
from baryon.modes.http_server import server_config
from baryon.modes.instance_lock import InstanceLock, InstanceRecord, InstanceState
from baryon.modes.log_file import (
    CLOUD_LOG_FILE_NAME,
    LOG_FILE_NAME,
    attach_log_file,
    detach_log_file,
)
from baryon.modes.regions import served_regions
from baryon.modes.startup_errors import DataDirUnusable, PortInUse, StartupError
from baryon.runtime import Runtime, build_runtime
from baryon.settings import Settings
from baryon.store.jobs import release_all_leases

log = logging.getLogger(__name__)

ADMIN_KEY_DESCRIPTION = "admin (created by baryon up)"
# moto accepts any credentials; fixed ones keep the local cloud's own logs readable.
LOCAL_CLOUD_CREDENTIALS = ("baryon-local", "baryon-local-secret")


def bind_socket(
    host: str, port: int, *, what: str = "the API", fix: str = "choose another with --port"
) -> socket.socket:
    """Binds and listens at once: a port in use is found before anything else is started."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"port {port} on {host}, which {what} needs, is in use by another process",
                f"stop that process or {fix}",
            ) from exc
        raise StartupError(
            f"{what} cannot listen on {host}:{port}: {exc.strerror or exc}",
            "check --host and --port",
        ) from exc
    sock.listen(512)
    sock.set_inheritable(True)
    return sock


def run_embedded(settings: Settings, announce: Callable[[str], None]) -> None:
    """Runs until SIGINT or SIGTERM. A mistake the operator can fix (port in use, data
    directory unusable or already in use) raises a StartupError before anything starts."""
    prepare_data_dir(settings.data_dir)
    _check_log_files(settings.data_dir / "logs")
    lock = InstanceLock.acquire(settings.data_dir)
    try:
        _run_holding(lock, settings, announce)
    finally:
        lock.release()


def _check_log_files(logs_dir: Path) -> None:
    """Opens Baryon's and the local cloud's log files for appending, as the start will, so
    that one it cannot open is one line naming the file, not a traceback mid-start."""
    for name in (LOG_FILE_NAME, CLOUD_LOG_FILE_NAME):
        path = logs_dir / name
        try:
            with path.open("ab"):
                pass
        except OSError as exc:
            raise DataDirUnusable(
                f"cannot open the log file {path}: {exc.strerror or exc}", WHAT_TO_DO
            ) from exc


def _run_holding(lock: InstanceLock, settings: Settings, announce: Callable[[str], None]) -> None:
    data_dir = settings.data_dir
    sock = bind_socket(settings.host, settings.port)
    try:
        cloud_sock = bind_socket(
            "127.0.0.1",
            _local_cloud_port(settings),
            what="the local cloud",
            fix=_cloud_fix(settings),
        )
    except BaseException:
        sock.close()
        raise
    api_port = sock.getsockname()[1]
    api_url = f"http://{_display_host(settings.host)}:{api_port}"
    log_path = attach_log_file(data_dir / "logs")
    state_file = data_dir / "local-cloud.state"
    cloud = LocalCloudProcess(
        host="127.0.0.1",
        state_file=state_file,
        log_file=data_dir / "logs" / CLOUD_LOG_FILE_NAME,
        stack_operation_seconds=settings.local_cloud_stack_seconds,
        listen_socket=cloud_sock,
    )
    announce(_starting_line(state_file))
    try:
        cloud_url = cloud.launch()
    finally:
        cloud_sock.close()  # the child has its own copy; a dead child must refuse callers
    assert cloud_url is not None  # known at once: the socket was bound here
    lock.publish(
        InstanceRecord(
            pid=os.getpid(),
            data_dir=str(data_dir),
            api_url=api_url,
            cloud_url=cloud_url,
            region=",".join(served_regions(settings)),
            started_at=time.time(),
            state=InstanceState.STARTING,
            log_file=str(log_path),
        )
    )
    runtime: Runtime | None = None
    readiness: CloudReadiness | None = None
    try:
        settings = settings.replace(
            cloud_endpoint=cloud_url,
            cloud_access_key_id=LOCAL_CLOUD_CREDENTIALS[0],
            cloud_secret_access_key=LOCAL_CLOUD_CREDENTIALS[1],
            # Programs call back the port just bound (the settings' may be 0: any free port).
            program_api_endpoint=settings.program_api_endpoint or api_url,
            # The local cloud accepts any key: programs' default keys can be Baryon's own.
            program_default_credentials=settings.program_default_credentials or "proton",
        )
        runtime = build_runtime(settings)
        key_id, secret = _ensure_admin_key(runtime)
        if not settings.master_key:  # a rotation's old key goes once a start has succeeded
            cells = [RegionDatabase(cell.region, cell.db) for cell in runtime.cells]
            forget_replaced_key(settings.master_key_file, cells)
        exports = env_exports(
            api_url=api_url,
            cloud_url=cloud_url,
            access_key_id=key_id,
            secret_access_key=secret,
            region=settings.region,
            data_dir=data_dir,
        )
        env_path = data_dir / "env"
        recovered = sum(release_all_leases(cell.db) for cell in runtime.cells)
        if recovered:
            log.info("resuming %d job(s) that were running when Baryon last stopped", recovered)
        server = uvicorn.Server(server_config(create_app(runtime), settings))
        readiness = CloudReadiness(
            runtime=runtime,
            cloud=cloud,
            server=server,
            lock=lock,
            env_path=env_path,
            exports=exports,
            ready_message=(
                f"Baryon is running on {api_url} (local cloud: {cloud_url}, data: {data_dir}).\n"
                f"Point the AWS CLI and boto3 at it with:  . {env_path}\n\n{render(exports)}"
            ),
            announce=announce,
        )
        readiness.start()
        _serve_until_signalled(server, sock)
    finally:
        lock.set_state(InstanceState.STOPPING)
        if readiness is not None:
            readiness.stop()
        if runtime is not None:
            runtime.close()
        cloud.stop()
        sock.close()
        detach_log_file(log_path)
        announce("Baryon stopped.")
    if readiness is not None and readiness.failure is not None:
        raise readiness.failure


def _starting_line(state_file: Path) -> str:
    try:
        size = state_file.stat().st_size
    except OSError:
        return "starting the local cloud..."
    return f"starting the local cloud (restoring {size / 1e6:.1f} MB of saved state)..."


def _cloud_fix(settings: Settings) -> str:
    if settings.local_cloud_port:
        return "set another BARYON_LOCAL_CLOUD_PORT"
    return "choose another --port (the local cloud takes the next port)"


def _serve_until_signalled(server: uvicorn.Server, sock: socket.socket) -> None:
    """Runs until SIGINT or SIGTERM, then returns so that the caller cleans up.

    uvicorn shuts down gracefully and then re-raises the signal it caught; without these
    handlers SIGTERM would kill the process before the workers and the cloud are stopped.
    """
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_keyboard_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _local_cloud_port(settings: Settings) -> int:
    """A fixed API port gets the next port for its cloud, so endpoints survive restarts."""
    if settings.local_cloud_port:
        return settings.local_cloud_port
    return settings.port + 1 if settings.port else 0


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else host


def _ensure_admin_key(runtime: Runtime) -> tuple[str, str]:
    for key in list_access_keys(runtime.db):
        if key.description == ADMIN_KEY_DESCRIPTION:
            secret = read_secret(runtime.db, runtime.box, key.access_key_id)
            if secret is not None:
                return key.access_key_id, secret
    created = create_access_key(runtime.db, runtime.box, ADMIN_KEY_DESCRIPTION)
    log.info("created the admin access key %s", created.access_key_id)
    return created.access_key_id, created.secret_access_key
