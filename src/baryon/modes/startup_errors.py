"""Why a Baryon process refused to start: mistakes an operator can fix, each its own type, so
the CLI turns each into one line and an exit status without reading any text."""

from __future__ import annotations


class StartupError(Exception):
    """``what`` went wrong and ``action`` says what to do about it."""

    def __init__(self, what: str, action: str) -> None:
        super().__init__(f"{what}; {action}")
        self.what = what
        self.action = action


class PortInUse(StartupError):
    """Another process listens on a port this one needs."""


class DataDirUnusable(StartupError):
    """The data directory cannot be created, written or read."""


class AlreadyRunning(StartupError):
    """Another Baryon holds this data directory."""


class NotConfigured(StartupError):
    """A setting the mode needs is missing (scaled mode: master key, cloud credentials)."""


class DatabaseUnreachable(StartupError):
    """The database named by the settings does not answer or refuses the connection."""


class ServerStopped(StartupError):
    """One of a server's processes ended unasked, so the server stopped (modes/scaled.py)."""
