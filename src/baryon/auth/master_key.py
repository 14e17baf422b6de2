"""The master key encrypts access-key secrets; it lives outside the database on purpose.

A stolen database (a backup, a replica) then yields no usable credentials. In scaled mode every
replica gets the same key through ``BARYON_MASTER_KEY``; embedded mode keeps it in a private
file in the data directory.

Rotation (auth/key_rotation.py) re-seals every value with a new key; while it runs, and until
every replica has the new key, a box also opens values sealed with the previous one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from baryon.settings import Settings

# Beside master.key in embedded mode: the key a rotation is moving to (there only while it
# runs, or after it was interrupted) and the one it replaced (until the next start succeeds).
NEW_KEY_SUFFIX = ".new"
OLD_KEY_SUFFIX = ".old"


class SealedValueUnreadable(RuntimeError):
    """A sealed value opens with none of the box's keys."""


class SecretBox:
    """Seals with ``key``; opens with ``key`` or any of ``previous`` (a rotation's old key)."""

    def __init__(self, key: bytes, previous: Sequence[bytes] = ()) -> None:
        self._fernet = MultiFernet([Fernet(key), *(Fernet(old) for old in previous)])

    def seal(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def open(self, ciphertext: bytes) -> str:
        try:
            return self._fernet.decrypt(ciphertext).decode()
        except InvalidToken as exc:
            raise _unreadable() from exc

    def reseal(self, ciphertext: bytes) -> bytes:
        """The same value sealed with the current key (its original timestamp kept)."""
        try:
            return self._fernet.rotate(ciphertext)
        except InvalidToken as exc:
            raise _unreadable() from exc


def _unreadable() -> SealedValueUnreadable:
    return SealedValueUnreadable(
        "a secret cannot be decrypted: the master key does not match the one it was "
        "encrypted with (check BARYON_MASTER_KEY or the data directory)"
    )


def load_master_key(settings: Settings, create: bool = True) -> bytes:
    if settings.master_key:
        return settings.master_key.encode()
    path = settings.master_key_file
    if path.exists():
        return path.read_bytes().strip()
    if not create:
        raise RuntimeError(f"no master key: set BARYON_MASTER_KEY or create {path}")
    return _create_key_file(path)


def load_previous_keys(settings: Settings) -> tuple[bytes, ...]:
    """Keys a box also opens with: BARYON_MASTER_KEY_PREVIOUS beside BARYON_MASTER_KEY, or, for
    a key file, the keys an interrupted or recent rotation left beside it."""
    if settings.master_key:
        previous = settings.master_key_previous.strip()
        return (previous.encode(),) if previous else ()
    found = []
    for suffix in (NEW_KEY_SUFFIX, OLD_KEY_SUFFIX):
        path = key_file_beside(settings.master_key_file, suffix)
        if path.is_file():
            found.append(path.read_bytes().strip())
    return tuple(found)


def key_file_beside(key_file: Path, suffix: str) -> Path:
    return key_file.with_name(key_file.name + suffix)


def _create_key_file(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    # O_EXCL: two processes starting at once must not both write a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
    return key
