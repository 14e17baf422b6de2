"""Turns a program's raw output into log lines of bounded size.

A program may write a line of a gigabyte or never write a newline at all; the splitter keeps
at most one line's worth of bytes and counts the rest, so memory stays flat whatever it
writes.
"""

from __future__ import annotations


class LineSplitter:
    def __init__(self, line_bytes: int) -> None:
        self._line_bytes = line_bytes
        self._pending = bytearray()
        self._cut = 0  # bytes of the current line dropped beyond line_bytes

    def feed(self, chunk: bytes) -> list[str]:
        """The lines `chunk` completes, in order."""
        lines: list[str] = []
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                self._keep(chunk[start:])
                return lines
            self._keep(chunk[start:end])
            lines.append(self._take())
            start = end + 1

    def finish(self) -> list[str]:
        """The last line when the output did not end with a newline."""
        if not self._pending and not self._cut:
            return []
        return [self._take()]

    def _keep(self, piece: bytes) -> None:
        room = self._line_bytes - len(self._pending)
        self._pending += piece[: max(room, 0)]
        self._cut += max(len(piece) - max(room, 0), 0)

    def _take(self) -> str:
        text = self._pending.decode("utf-8", "replace").rstrip("\r")
        if self._cut:
            text += f" [... {self._cut} more bytes of this line not shown]"
        self._pending.clear()
        self._cut = 0
        return text
