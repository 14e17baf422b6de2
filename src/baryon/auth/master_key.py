"""The master key encrypts access-key secrets; it lives outside the database on purpose.

A stolen database (a backup, a replica) then yields no usable credentials. In scaled mode every
replica gets the same key through ``BARYON_MASTER_KEY``; embedded mode keeps it in a private
file in the data directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from baryon.settings import Settings


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def open(self, ciphertext: bytes) -> str:
        try:
            return self._fernet.decrypt(ciphertext).decode()
        except InvalidToken as exc:
            raise RuntimeError(
                "an access-key secret cannot be decrypted: the master key does not match the "
                "one it was encrypted with (check BARYON_MASTER_KEY or the data directory)"
            ) from exc


def load_master_key(settings: Settings, create: bool = True) -> bytes:
    if settings.master_key:
        return settings.master_key.encode()
    path = settings.master_key_file
    if path.exists():
        return path.read_bytes().strip()
    if not create:
        raise RuntimeError(f"no master key: set BARYON_MASTER_KEY or create {path}")
    return _create_key_file(path)


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
