"""The embedded local cloud: moto's server on a loopback port, with state that survives restarts.

Run it as ``python -m baryon.cloud.server --host 127.0.0.1 --port 0 --state-file PATH``.
State is a pickle of every moto backend that was used; it is written on SIGTERM/SIGINT and,
after any mutating request, every few seconds, so a SIGKILL loses at most that much.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from baryon.cloud import (
    call_counts,
    change_sets,
    cloudformation_timing,
    codebuild_projects,
    service_fixes,
    simulated_resources,
    stack_drift,
    template_front_end,
)
from baryon.cloud.error_responses import answering_errors, propagating
from baryon.cloud.request_gate import RequestGate, gated
from baryon.cloud.state import StateFile, lock_state, write_atomically
from baryon.cloud.stop_signals import StopSignals

log = logging.getLogger("baryon.cloud")

SNAPSHOT_INTERVAL = 5.0
# A periodic snapshot gives up after this long if requests keep the gate busy; the next
# tick retries. Shutdown waits longer: the listener is closed, so in-flight requests end.
PERIODIC_GATE_TIMEOUT = 2.0
SHUTDOWN_GATE_TIMEOUT = 20.0
# Longer than a predecessor's shutdown can take, shorter than LocalCloudProcess's start timeout.
STATE_LOCK_TIMEOUT = 45.0
_PR_SET_PDEATHSIG = 1
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


# --- Serving ---------------------------------------------------------------------------------


def die_with_parent(parent_pid: int | None) -> None:
    """Have the kernel send SIGTERM when the parent dies, so the snapshot path runs.

    Linux only. The kernel means the *thread* that spawned us, which is why LocalCloudProcess
    spawns from a keeper thread that lives until it stops the child.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    if parent_pid is not None and os.getppid() != parent_pid:
        # The parent died before prctl took effect; nobody would ever signal us.
        os.kill(os.getpid(), signal.SIGTERM)


def serve(
    host: str,
    port: int,
    state_file: Path | None,
    on_ready: Callable[[int], None] | None = None,
    stack_operation_seconds: float = 0.0,
    listen_fd: int | None = None,
) -> None:
    """Runs the local cloud until SIGTERM or SIGINT; then snapshots and returns.

    Call it from the main thread (signal handlers). ``on_ready`` gets the port once listening.
    ``listen_fd`` is a socket the parent bound and listens on (its clients wait in the
    backlog while the state is restored). ``stack_operation_seconds`` > 0 makes stack
    operations take that long, as on AWS (`baryon.cloud.cloudformation_timing`); with 0 they
    end within the request.
    """
    stop = StopSignals()

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    gate = RequestGate()
    store = StateFile(state_file, gate) if state_file is not None else None
    lock_fd = lock_state(state_file, STATE_LOCK_TIMEOUT) if state_file is not None else None
    if store is not None:
        restored = store.restore()
        log.info("local cloud state %s: %d backends restored", state_file, restored)
        # The state may hold stacks shown *_IN_PROGRESS; after a restart they are done.
        cloudformation_timing.end_restored_windows()

    def backend_app_factory(service: str) -> Any:
        # Importing moto's CloudFormation takes seconds: patched when its app is first built
        # (or by the warm-up), so a cloud that never sees a stack skips it.
        if service == "cloudformation":
            _patch_cloudformation(stack_operation_seconds)
        elif service in ("elb", "elbv2"):  # one endpoint; moto routes v2 by API version
            service_fixes.install()
        elif service == "codebuild":
            codebuild_projects.install()  # UpdateProject
        return propagating(create_backend_app(service))

    app = call_counts.answering_counts(
        answering_errors(DomainDispatcherApplication(backend_app_factory))
    )
    if store is not None:
        app = gated(app, gate)
    server = make_server(
        host, port, app, threaded=True, request_handler=MotoRequestHandler, fd=listen_fd
    )
    actual_port = server.port
    # moto builds URLs to itself (CloudFormation custom resources) from MOTO_PORT.
    os.environ["MOTO_PORT"] = str(actual_port)
    # A short poll interval makes shutdown() quick; the idle cost is ten wakeups a second.
    listener = threading.Thread(
        target=server.serve_forever, args=(0.1,), name="local-cloud-http", daemon=True
    )
    listener.start()
    threading.Thread(
        target=_warm_up, args=(stack_operation_seconds,), name="local-cloud-warm-up", daemon=True
    ).start()
    if on_ready is not None:
        on_ready(actual_port)
    try:
        while not stop.wait(SNAPSHOT_INTERVAL):
            if store is not None and gate.dirty:
                _snapshot(store, PERIODIC_GATE_TIMEOUT)
    finally:
        server.shutdown()
        listener.join()
        if store is not None:
            _snapshot(store, SHUTDOWN_GATE_TIMEOUT)
        server.server_close()
        if lock_fd is not None:
            os.close(lock_fd)  # only now may a successor read the state


_patch_lock = threading.Lock()


def _patch_cloudformation(stack_operation_seconds: float) -> None:
    """What makes moto's CloudFormation behave like AWS's; safe to call more than once.
    One at a time: each patch wraps the methods the previous one left."""
    with _patch_lock:
        change_sets.install()  # first: it wraps moto's own UpdateStack
        service_fixes.install()  # CloudFormation reaches the services' backends directly
        simulated_resources.install()
        template_front_end.install()
        stack_drift.install()  # DetectStackDrift and friends, REVERT_DRIFT change sets
        cloudformation_timing.install(stack_operation_seconds)


def _warm_up(stack_operation_seconds: float) -> None:
    """Imports moto's CloudFormation (seconds of work) while the caller is still starting up,
    instead of during its first deployment."""
    try:
        # Under the patch lock: a first CloudFormation request would otherwise import moto's
        # circular elb/elbv2/autoscaling modules at the same time, and one thread would see
        # them half made ("cannot import name ... from partially initialized module").
        with _patch_lock:
            for module in ("moto.cloudformation.models", "moto.ssm.models"):
                importlib.import_module(module)

        _patch_cloudformation(stack_operation_seconds)
    except Exception:  # a failed warm-up only means the first request pays for the import
        log.exception("local cloud warm-up failed")


def _snapshot(store: StateFile, timeout: float) -> None:
    """A failed snapshot must not stop the cloud; the next tick retries."""
    try:
        store.save(timeout)
    except Exception:
        log.exception("local cloud snapshot failed")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m baryon.cloud.server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--state-file", type=Path, default=None)
    parser.add_argument(
        "--port-file",
        type=Path,
        default=None,
        help="written atomically with the port once listening",
    )
    parser.add_argument(
        "--parent-pid", type=int, default=None, help="exit with this process (Linux)"
    )
    parser.add_argument(
        "--stack-operation-seconds",
        type=float,
        default=0.0,
        help="show stack operations in progress this long, as AWS does (0 = instant)",
    )
    parser.add_argument(
        "--listen-fd", type=int, default=None, help="serve on this inherited, listening socket"
    )
    args = parser.parse_args(argv)
    if args.parent_pid is not None:
        die_with_parent(args.parent_pid)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    # One line per request would grow the log of a long-running `baryon up` without bound.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    def ready(port: int) -> None:
        if args.port_file is not None:
            write_atomically(args.port_file, f"{port}\n".encode())
        print(f"baryon local cloud listening on http://{args.host}:{port}", flush=True)

    serve(
        args.host,
        args.port,
        args.state_file,
        on_ready=ready,
        stack_operation_seconds=args.stack_operation_seconds,
        listen_fd=args.listen_fd,
    )


if __name__ == "__main__":
    main()
    # The state is on disk; tearing down moto's object graph would take most of a second.
    logging.shutdown()
    sys.stdout.flush()
    os._exit(0)
