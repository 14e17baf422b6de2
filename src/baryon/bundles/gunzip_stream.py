"""A gzip reader that refuses to produce more than a fixed number of bytes.

tarfile's own gzip layer gives no way to bound decompressed output: a small upload can
expand to gigabytes, and tarfile buffers some headers (pax, GNU long names) whole. Feeding
tarfile plain tar bytes from this reader caps everything it can ever see.
"""

from __future__ import annotations

import re
import zlib

from baryon.bundles.errors import BundleError

GZIP_MAGIC = b"\x1f\x8b"
_INPUT_CHUNK = 64 * 1024
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_NON_ZERO = re.compile(rb"[^\x00]")


class CappedGunzip:
    """File-like object with read(size) over gzip `data`; handles multi-member gzip."""

    def __init__(self, data: bytes, cap: int) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._cap = cap
        self._produced = 0
        self._inflater = zlib.decompressobj(_GZIP_WBITS)
        self._done = False

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self._cap + 1
        out = bytearray()
        while len(out) < size and not self._done:
            pending = self._inflater.unconsumed_tail
            if not pending:
                pending = bytes(self._data[self._pos : self._pos + _INPUT_CHUNK])
                self._pos += len(pending)
                if not pending:
                    raise BundleError("archive is corrupt: the gzip data is truncated")
            try:
                out += self._inflater.decompress(pending, size - len(out))
            except zlib.error as exc:
                raise BundleError(f"archive is corrupt: invalid gzip data ({exc})") from None
            if self._inflater.eof:
                self._next_member()
            if self._produced + len(out) > self._cap:
                raise BundleError(
                    f"archive expands to more than {self._cap} bytes of tar data; "
                    "refusing to decompress further"
                )
        self._produced += len(out)
        return bytes(out)

    def _next_member(self) -> None:
        # unused_data is always the tail of what was fed so far, so step back over it.
        self._pos -= len(self._inflater.unused_data)
        # Like the gzip module, tolerate zero padding between or after members.
        found = _NON_ZERO.search(self._data, self._pos)
        if found is None:
            self._done = True
            return
        self._pos = found.start()
        if bytes(self._data[self._pos : self._pos + 2]) != GZIP_MAGIC:
            raise BundleError("archive is corrupt: unexpected data after the gzip stream")
        self._inflater = zlib.decompressobj(_GZIP_WBITS)
