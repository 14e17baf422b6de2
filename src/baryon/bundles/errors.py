"""The one error type of the bundles package.

Template authors fix bundles by reading these messages, so every error carries where it
happened (file, line, dotted field path) separately from why (reason). Callers such as the API
layer can show the parts in their own format, and ``str()`` gives one readable sentence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PathPart = str | int


def field_path(parts: Iterable[PathPart], prefix: str = "") -> str:
    """Format ("a", "b", 0, "c") as "a.b[0].c", optionally after a prefix like "instances[1]"."""
    text = prefix
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        else:
            text = f"{text}.{part}" if text else str(part)
    return text


class BundleError(Exception):
    """A template bundle (or a spec checked against its schema) is not acceptable."""

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.file = file
        self.line = line
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = " ".join(
            part
            for part in (
                self.file or "",
                f"line {self.line}" if self.line is not None else "",
                f"({self.field})" if self.field else "",
            )
            if part
        )
        return f"{where}: {self.reason}" if where else self.reason


class YamlSyntaxError(BundleError):
    """The text is not YAML at all, as opposed to YAML refused for its size or shape; callers
    word the two differently and tell them apart by type, never by message."""


@dataclass(frozen=True)
class SpecProblem:
    """One reason why spec values do not fit an input type."""

    field: str
    message: str
    # The same place as data, inside the inputs (without the ``where`` prefix of ``field``),
    # for a form that puts the problem beside the input it names.
    path: tuple[PathPart, ...] = ()

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class SpecError(BundleError):
    """Spec values do not fit the schema; lists every problem, not just the first one.

    Developers submit specs and want to fix them in one round trip, hence the full list.
    """

    def __init__(self, problems: Sequence[SpecProblem], *, field: str | None = None) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        summary = "; ".join(str(p) for p in self.problems)
        noun = "problem" if count == 1 else "problems"
        where = f" in {field}" if field else ""
        super().__init__(f"{count} {noun}{where}: {summary}", field=field)

    def __str__(self) -> str:
        # The reason already names `field`; repeating it in parentheses only adds noise.
        return self.reason
