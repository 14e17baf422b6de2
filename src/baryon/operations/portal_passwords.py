"""Password hashing with scrypt (in the standard library) and a salt of its own per password.

The stored form names its parameters, ``scrypt$<n>$<r>$<p>$<salt>$<hash>``, so that stronger
parameters can be adopted later without locking anyone out.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import threading

_N, _R, _P = 2**15, 8, 1  # about 50 ms and 32 MiB per hash: slow for guessing, fine per sign-in
_SALT_BYTES = 16
_KEY_BYTES = 32
_MAX_MEMORY = 64 * 1024 * 1024
MIN_LENGTH = 10
MAX_LENGTH = 1024  # scrypt hashes anything, but a megabyte password is only a way to burn CPU
# Each hash takes 32 MiB: a burst of sign-ins queues here instead of exhausting memory.
_SLOTS = threading.BoundedSemaphore(4)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    with _SLOTS:
        return hashlib.scrypt(
            password.encode("utf-8"),
            salt=salt,
            n=n,
            r=r,
            p=p,
            maxmem=_MAX_MEMORY,
            dklen=_KEY_BYTES,
        )


def password_problem(password: str) -> str | None:
    """Why a new password is not acceptable, or None."""
    if len(password) < MIN_LENGTH:
        return f"A password needs at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"A password has at most {MAX_LENGTH} characters."
    return None


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _derive(password, salt, _N, _R, _P)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time comparison; a malformed stored hash never matches."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key)
        actual = _derive(password[:MAX_LENGTH], base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@functools.cache
def unknown_user_hash() -> str:
    """Checked when the user name is unknown, so the answer takes as long as for a real user."""
    return hash_password(secrets.token_urlsafe(16))
