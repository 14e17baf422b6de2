"""Embedded mode (``baryon up``): API, workers, SQLite and a local cloud in one process tree."""

from __future__ import annotations

import logging
import signal
import socket
from collections.abc import Callable

import uvicorn

from baryon.app import create_app
from baryon.auth.access_keys import create_access_key, list_access_keys, read_secret
from baryon.cloud.buckets import ensure_bundle_bucket
from baryon.cloud.process import LocalCloudProcess
from baryon.engine.worker import RegionalWorkers
from baryon.modes.env_file import env_exports, render, write_env_file
from baryon.modes.http_server import server_config
from baryon.runtime import Runtime, build_runtime
from baryon.settings import Settings
from baryon.store.jobs import release_all_leases

log = logging.getLogger(__name__)

ADMIN_KEY_DESCRIPTION = "admin (created by baryon up)"
# moto accepts any credentials; fixed ones keep the local cloud's own logs readable.
LOCAL_CLOUD_CREDENTIALS = ("baryon-local", "baryon-local-secret")


def bind_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.set_inheritable(True)
    return sock


def run_embedded(settings: Settings, announce: Callable[[str], None]) -> None:
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    (data_dir / "logs").mkdir(exist_ok=True)
    sock = bind_socket(settings.host, settings.port)
    api_port = sock.getsockname()[1]
    cloud = LocalCloudProcess(
        host="127.0.0.1",
        port=_local_cloud_port(settings),
        state_file=data_dir / "local-cloud.state",
        log_file=data_dir / "logs" / "local-cloud.log",
        stack_operation_seconds=settings.local_cloud_stack_seconds,
    )
    cloud_url = cloud.start()
    runtime: Runtime | None = None
    pool: RegionalWorkers | None = None
    try:
        settings = settings.replace(
            cloud_endpoint=cloud_url,
            cloud_access_key_id=LOCAL_CLOUD_CREDENTIALS[0],
            cloud_secret_access_key=LOCAL_CLOUD_CREDENTIALS[1],
            # Programs call back the port just bound (the settings' may be 0: any free port).
            program_api_endpoint=settings.program_api_endpoint
            or f"http://{_display_host(settings.host)}:{api_port}",
            # The local cloud accepts any key: programs' default keys can be Baryon's own.
            program_default_credentials=settings.program_default_credentials or "proton",
        )
        runtime = build_runtime(settings)
        ensure_bundle_bucket(settings)
        key_id, secret = _ensure_admin_key(runtime)
        exports = env_exports(
            api_url=f"http://{_display_host(settings.host)}:{api_port}",
            cloud_url=cloud_url,
            access_key_id=key_id,
            secret_access_key=secret,
            region=settings.region,
        )
        env_path = data_dir / "env"
        write_env_file(env_path, exports)
        recovered = sum(release_all_leases(cell.db) for cell in runtime.cells)
        if recovered:
            log.info("resuming %d job(s) that were running when Baryon last stopped", recovered)
        pool = RegionalWorkers(runtime.cells)
        pool.start()
        announce(
            f"Baryon is running on http://{_display_host(settings.host)}:{api_port} "
            f"(local cloud: {cloud_url}, data: {data_dir}).\n"
            f"Point the AWS CLI and boto3 at it with:  . {env_path}\n\n{render(exports)}"
        )
        server = uvicorn.Server(server_config(create_app(runtime), settings))
        _serve_until_signalled(server, sock)
    finally:
        if pool is not None:
            pool.stop()
        if runtime is not None:
            runtime.close()
        cloud.stop()
        sock.close()
        announce("Baryon stopped.")


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
