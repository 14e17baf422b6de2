"""The embedded local cloud: moto's server on a loopback port, with state that survives restarts.

Run it as ``python -m baryon.cloud.server --host 127.0.0.1 --port 0 --state-file PATH``.
State is a pickle of every moto backend that was used; it is written on SIGTERM/SIGINT and,
after any mutating request, every few seconds, so a SIGKILL loses at most that much.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import io
import logging
import marshal
import os
import pickle
import signal
import sys
import tempfile
import threading
import time
import types
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

log = logging.getLogger("baryon.cloud")

SNAPSHOT_INTERVAL = 5.0
# A periodic snapshot gives up after this long if requests keep the gate busy; the next
# tick retries. Shutdown waits longer: the listener is closed, so in-flight requests end.
PERIODIC_GATE_TIMEOUT = 2.0
SHUTDOWN_GATE_TIMEOUT = 20.0
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
STATE_FORMAT = 1
_PR_SET_PDEATHSIG = 1
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


# --- Requests vs snapshots -------------------------------------------------------------------


class RequestGate:
    """Requests share the gate; a snapshot holds it alone.

    Requests are not serialized among themselves: moto calls itself over HTTP at times (a
    CloudFormation custom resource invoking a Lambda, Step Functions), and one big lock would
    deadlock there. A waiting snapshot does not block new requests for the same reason; it
    times out instead and the next tick tries again.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self.dirty = False

    def enter(self, mutating: bool) -> None:
        with self._cond:
            self._active += 1
            if mutating:
                self.dirty = True

    def leave(self) -> None:
        with self._cond:
            self._active -= 1
            if self._active == 0:
                self._cond.notify_all()

    @contextmanager
    def exclusive(self, timeout: float) -> Iterator[bool]:
        """Yields True with no request in flight and none able to start, False on timeout."""
        with self._cond:
            yield self._cond.wait_for(lambda: self._active == 0, timeout)


class _ReleaseOnClose:
    """Keeps the gate shared until the server has sent the whole body.

    An S3 GetObject body streams from the same buffer a snapshot reads.
    """

    def __init__(self, body: Iterable[bytes], release: Callable[[], None]) -> None:
        self._body = body
        self._release: Callable[[], None] | None = release

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


def gated(app: WSGIApp, gate: RequestGate) -> WSGIApp:
    def gated_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        gate.enter(environ.get("REQUEST_METHOD", "GET") not in READ_ONLY_METHODS)
        try:
            body = app(environ, start_response)
        except BaseException:
            gate.leave()
            raise
        return _ReleaseOnClose(body, gate.leave)

    return gated_app


# --- Pickling moto's backends ----------------------------------------------------------------
# moto's backends mostly pickle, but some hold lambdas and local functions (defaultdict
# factories), defaultdict subclasses whose __init__ takes other arguments, weak dicts,
# locks and cryptography keys. The pickler below handles those; anything else unpicklable
# drops its backend from the snapshot (with a warning) instead of failing the snapshot.


def _rebuild_function(
    code: bytes,
    module: str,
    qualname: str,
    defaults: tuple[Any, ...] | None,
    kwdefaults: dict[str, Any] | None,
    closure: tuple[Any, ...] | None,
) -> types.FunctionType:
    cells = None if closure is None else tuple(types.CellType(v) for v in closure)
    name = qualname.rsplit(".", 1)[-1]
    namespace = importlib.import_module(module).__dict__
    fn = types.FunctionType(marshal.loads(code), namespace, name, defaults, cells)
    fn.__qualname__ = qualname
    fn.__kwdefaults__ = kwdefaults
    return fn


def _new_defaultdict(cls: type[defaultdict[Any, Any]], factory: Any) -> defaultdict[Any, Any]:
    new = defaultdict.__new__(cls)
    defaultdict.__init__(new, factory)
    return new


def _load_pem(pem: bytes, kind: str) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    if kind == "private":
        return serialization.load_pem_private_key(pem, password=None)
    if kind == "public":
        return serialization.load_pem_public_key(pem)
    return x509.load_pem_x509_certificate(pem)


def _reduce_crypto(obj: Any) -> tuple[Any, ...] | None:
    """KMS keys and ACM certificates are cryptography objects, which only pickle as PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization as s

    if isinstance(obj, x509.Certificate):
        return _load_pem, (obj.public_bytes(s.Encoding.PEM), "certificate")
    if hasattr(obj, "private_bytes"):
        pem = obj.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption())
        return _load_pem, (pem, "private")
    if hasattr(obj, "public_bytes"):
        pem = obj.public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo)
        return _load_pem, (pem, "public")
    return None


def _importable(fn: types.FunctionType) -> bool:
    try:
        found: Any = importlib.import_module(fn.__module__)
        for part in fn.__qualname__.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        return False
    return found is fn


_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))


class _StatePickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, types.FunctionType) and not _importable(obj):
            # By value; the code is only good for this Python version, which the file records.
            cells = obj.__closure__
            closure = None if cells is None else tuple(c.cell_contents for c in cells)
            args = (obj.__module__, obj.__qualname__, obj.__defaults__, obj.__kwdefaults__)
            return _rebuild_function, (marshal.dumps(obj.__code__), *args, closure)
        if isinstance(obj, defaultdict) and type(obj) is not defaultdict:
            # The 5-tuple form memoizes the new object before its items: cycles are fine.
            args = (type(obj), obj.default_factory)
            return _new_defaultdict, args, vars(obj) or None, None, iter(obj.items())
        if isinstance(obj, weakref.WeakValueDictionary | weakref.WeakKeyDictionary):
            return type(obj), (), None, None, iter(list(obj.items()))
        if type(obj).__module__.startswith("cryptography.hazmat."):
            return _reduce_crypto(obj) or NotImplemented
        if isinstance(obj, _LOCK_TYPES):
            # Nothing holds a moto lock while the gate is exclusive; a fresh one is equal.
            return type(obj), ()
        return NotImplemented


def _dumps(obj: Any) -> bytes:
    buffer = io.BytesIO()
    _StatePickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()


# --- Which backends --------------------------------------------------------------------------
# moto creates backends lazily and lists each BackendDict that holds an account in
# BackendDict._instances, so "used" is known without importing any unused service. A
# backend is saved under the module attribute that holds it: moto's service names are
# ambiguous (bedrock-runtime's BackendDict says "ec2"), module paths are not.


def _address(backend_dict: Any) -> tuple[str, str] | None:
    module_name = backend_dict.backend.__module__
    for attr, value in vars(sys.modules[module_name]).items():
        if value is backend_dict:
            return module_name, attr
    return None


def _used_backends() -> dict[str, Any]:
    from moto.core.base_backend import BackendDict

    used: dict[str, Any] = {}
    for backend_dict in list(BackendDict._instances):
        address = _address(backend_dict)
        if address is None:
            log.warning("cannot persist moto backend %s: not found", backend_dict.service_name)
        elif len(backend_dict):
            used[":".join(address)] = dict(backend_dict)
    return used


def _header() -> dict[str, Any]:
    return {"format": STATE_FORMAT, "python": list(sys.version_info[:2]), "moto": _moto_version()}


def _serialize(backends: dict[str, Any]) -> bytes:
    """A small header pickle, then one pickle for all backends, so that a stack and the
    bucket it created stay one object."""
    header = pickle.dumps(_header())
    try:
        return header + _dumps(backends)
    except Exception:
        keep = {}
        for address, accounts in backends.items():
            try:
                _dumps(accounts)
                keep[address] = accounts
            except Exception as exc:
                log.warning("not persisting %s: %s: %s", address, type(exc).__name__, exc)
        return header + _dumps(keep)


def _moto_version() -> str:
    from importlib.metadata import version

    return version("moto")


# --- The state file --------------------------------------------------------------------------


def write_atomically(path: Path, data: bytes) -> None:
    """Readers see the old file or the new one, never half of one, even after a power cut."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class StateFile:
    def __init__(self, path: Path, gate: RequestGate) -> None:
        self.path = path
        self.gate = gate
        self._write_lock = threading.Lock()  # periodic and shutdown snapshots never interleave

    def restore(self) -> int:
        """Loads the state into moto's live backends; returns how many backends it restored."""
        if not self.path.exists():
            return 0
        try:
            backends = self._read()
        except Exception as exc:
            # Better an empty cloud than none: the user can still recover the old file.
            stamp = time.strftime("%Y%m%dT%H%M%S")
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
            os.replace(self.path, aside)
            log.warning(
                "unreadable local cloud state (%s: %s); moved to %s and starting empty",
                type(exc).__name__,
                exc,
                aside,
            )
            return 0
        return sum(_install(address, accounts) for address, accounts in backends.items())

    def _read(self) -> dict[str, Any]:
        with self.path.open("rb") as source:
            header, expected = pickle.load(source), _header()
            if not isinstance(header, dict) or header.get("format") != STATE_FORMAT:
                raise ValueError("not a local cloud state file")
            if header.get("python") != expected["python"]:
                # Functions are saved as bytecode, which only this Python version reads.
                raise ValueError(f"written by Python {header.get('python')}")
            if header.get("moto") != expected["moto"]:
                log.warning("local cloud state was written by moto %s", header.get("moto"))
            backends = pickle.load(source)
        if not isinstance(backends, dict):
            raise ValueError("no backends in the state file")
        return backends

    def save(self, timeout: float) -> bool:
        with self._write_lock:
            started = time.perf_counter()
            with self.gate.exclusive(timeout) as idle:
                if not idle:
                    log.warning("snapshot postponed: requests busy for %.0f s", timeout)
                    return False
                data = _serialize(_used_backends())
                self.gate.dirty = False
            try:
                write_atomically(self.path, data)
            except BaseException:
                self.gate.dirty = True
                raise
            log.info("snapshot: %d bytes in %.3f s", len(data), time.perf_counter() - started)
            return True


def _install(address: str, accounts: dict[str, Any]) -> int:
    from moto.core.base_backend import BackendDict, backend_lock

    module_name, _, attr = address.partition(":")
    try:
        live = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        log.warning("local cloud state has %s, which this moto does not; skipped", address)
        return 0
    with backend_lock:
        live.clear()
        live.update(accounts)
        # moto resets (POST /moto-api/reset) only the dicts it lists as used.
        if live not in BackendDict._instances:
            BackendDict._instances.append(live)
    return 1


# --- Serving ---------------------------------------------------------------------------------


def die_with_parent(parent_pid: int | None) -> None:
    """Have the kernel send SIGTERM when the parent dies, so the snapshot path runs.

    Linux only. The "parent" is the thread that spawned us: start the child from a thread
    that lives as long as the process (the main thread).
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
) -> None:
    """Runs the local cloud until SIGTERM or SIGINT; then snapshots and returns.

    Call it from the main thread (signal handlers). ``on_ready`` gets the port once listening.
    """
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    gate = RequestGate()
    store = StateFile(state_file, gate) if state_file is not None else None
    if store is not None:
        restored = store.restore()
        log.info("local cloud state %s: %d backends restored", state_file, restored)

    app: WSGIApp = DomainDispatcherApplication(create_backend_app)
    if store is not None:
        app = gated(app, gate)
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    actual_port = server.server_port
    # moto builds URLs to itself (CloudFormation custom resources) from MOTO_PORT.
    os.environ["MOTO_PORT"] = str(actual_port)
    # A short poll interval makes shutdown() quick; the idle cost is ten wakeups a second.
    listener = threading.Thread(
        target=server.serve_forever, args=(0.1,), name="local-cloud-http", daemon=True
    )
    listener.start()
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

    serve(args.host, args.port, args.state_file, on_ready=ready)


if __name__ == "__main__":
    # Run from the importable module, not __main__: the state file names this module's
    # rebuild helpers, and `baryon cloud` (which imports it) must be able to read it too.
    from baryon.cloud import server

    server.main()
    # The state is on disk; tearing down moto's object graph would take most of a second.
    logging.shutdown()
    sys.stdout.flush()
    os._exit(0)
