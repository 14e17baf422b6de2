"""The local cloud's state file: every used moto backend, pickled, written atomically.

Loading a pickle runs code, so the file is created private (0600) and only ever read by
the local cloud of the same data directory.
"""

from __future__ import annotations

import importlib
import io
import logging
import marshal
import os
import pickle
import sys
import tempfile
import threading
import time
import types
import weakref
from collections import defaultdict
from contextlib import suppress
from pathlib import Path
from typing import Any

from baryon.cloud.request_gate import RequestGate

log = logging.getLogger("baryon.cloud")

STATE_FORMAT = 1


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


def lock_state(path: Path, timeout: float) -> int:
    """Takes an flock on ``PATH.lock``; closing the descriptor (or dying) releases it.

    When a parent dies and is restarted at once, the old child may still be writing its last
    snapshot: the new one waits for it instead of loading the state before that.
    """
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(f"{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    deadline, waited = time.monotonic() + timeout, False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if not waited:
                log.info("waiting for another local cloud to release %s", path)
                waited = True
            if time.monotonic() > deadline:
                os.close(fd)
                raise RuntimeError(f"another local cloud still uses {path}") from None
            time.sleep(0.05)


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
