"""The one error type of the render package.

A template author fixes a template by reading this message, so it carries where (file,
line) separately from why (reason); callers such as a preview page can show the parts in
their own layout, and ``str()`` gives one readable sentence.
"""

from __future__ import annotations


class RenderError(Exception):
    """A template could not be rendered into deployable files."""

    def __init__(self, reason: str, *, file: str | None = None, line: int | None = None) -> None:
        self.reason = reason
        self.file = file
        self.line = line
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = " ".join(
            part for part in (self.file or "", f"line {self.line}" if self.line else "") if part
        )
        return f"{where}: {self.reason}" if where else self.reason


class BudgetExceeded(Exception):
    """A template used more of a render budget (time, memory, nesting) than allowed.

    Raised from inside template execution; `render_text` turns it into a RenderError that
    names the template line that was running.
    """


class FilterError(Exception):
    """A Proton filter refused its input (documented validation rules)."""
