"""How a ``baryon`` command fails: one line saying what is wrong and what to do, and an exit
status that tells scripts which mistake it was without reading the text."""

from __future__ import annotations

from enum import IntEnum
from typing import IO

import click


class ExitStatus(IntEnum):
    # 1 and 2 keep click's meanings: a request the server refused, and a usage mistake.
    REFUSED = 1
    USAGE = 2
    # No env file, region or endpoint says where Baryon is.
    NOT_CONFIGURED = 3
    # Nothing answers at the endpoint (the server is down or the address is wrong).
    SERVER_UNREACHABLE = 4
    # The server answered but does not accept these credentials.
    CREDENTIALS_REFUSED = 5
    # The port asked for is taken by another process.
    PORT_IN_USE = 6
    # The data directory cannot be created, written or read.
    DATA_DIR_UNUSABLE = 7
    # Another Baryon already runs on this data directory.
    ALREADY_RUNNING = 8
    # A file the command reads (bundle, spec, settings) is invalid.
    INVALID_INPUT = 9
    # No embedded Baryon runs on this data directory (status, stop, logs).
    NOT_RUNNING = 10
    # The database the settings name (PostgreSQL in scaled mode) cannot be reached or used.
    DATABASE_UNREACHABLE = 11
    # baryon audit verify: a record of the audit trail was changed, removed or inserted.
    AUDIT_TRAIL_BROKEN = 12
    # baryon policy test: the policies deny what was asked (the answer is printed all the same).
    ACCESS_DENIED = 13


class CliFailure(click.ClickException):
    """A mistake the user can fix: ``what`` went wrong, and ``action`` says how to fix it."""

    def __init__(self, status: ExitStatus, what: str, action: str = "") -> None:
        super().__init__(f"{what}; {action}" if action else what)
        self.status = status
        # click declares exit_code on the class; each failure has its own.
        self.exit_code = int(status)  # type: ignore[misc]

    def show(self, file: IO[str] | None = None) -> None:
        click.echo(f"baryon: {self.format_message()}", file=file, err=file is None)
