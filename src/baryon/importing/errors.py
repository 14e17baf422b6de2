"""The one error type of the importing package: what is wrong, in which file, at which field."""

from __future__ import annotations


class ExportError(Exception):
    """The export directory (or a file in it) cannot be read as Proton left it.

    ``file`` is the path inside the export directory, ``field`` the dotted member path inside
    that file ("environment.templateMajorVersion"), so that a user fixes it in one look.
    """

    def __init__(self, reason: str, *, file: str | None = None, field: str | None = None) -> None:
        self.reason = reason
        self.file = file
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.file, self.field) if part)
        return f"{where}: {self.reason}" if where else self.reason


class StackReadError(Exception):
    """The account could not be read (a cloud error); the caller decides whether to retry."""
