"""Column-aware re-indentation of multi-line filter output (reference section 3.4).

Proton's filters return YAML blocks (lists, mappings) and the documented output shows every
line of a block at the column where its ``{{`` started, which a Jinja filter cannot know.
So a filter returns an IndentedBlock; when the block is written out it is wrapped in two
marker characters, and after rendering `expand_blocks` walks the finished text once,
indenting each continuation line to the output column where the block's marker sat.

Working on the output (not on template source) keeps it exact when two expressions share a
line, when blocks nest, and when text is captured by ``{% set %}`` and written later.
"""

from __future__ import annotations

import re

from baryon.render.errors import RenderError

BLOCK_START = "\x02"
BLOCK_END = "\x03"
_PIECES = re.compile(f"([{BLOCK_START}{BLOCK_END}\n])")


class IndentedBlock(str):
    """Multi-line text whose continuation lines follow the column of its first line."""

    __slots__ = ()


def mark_block(block: str) -> str:
    return f"{BLOCK_START}{block}{BLOCK_END}" if "\n" in block else str(block)


def expand_blocks(text: str, file: str | None = None) -> str:
    if BLOCK_START not in text and BLOCK_END not in text:
        return text
    out: list[str] = []
    columns: list[int] = []  # the open blocks' start columns, innermost last
    column = 0  # characters written since the last newline
    pending = 0  # indentation owed to the current line, paid when it gets any text
    for piece in _PIECES.split(text):
        if piece == BLOCK_START:
            columns.append(column)
        elif piece == BLOCK_END:
            if not columns:
                raise _stray_marker(file)
            columns.pop()
        elif piece == "\n":
            out.append("\n")
            column = 0
            pending = columns[-1] if columns else 0
        elif piece:
            if pending:
                out.append(" " * pending)
                column += pending
                pending = 0
            out.append(piece)
            column += len(piece)
    if columns:
        raise _stray_marker(file)
    return "".join(out)


def _stray_marker(file: str | None) -> RenderError:
    # Only a template that writes these characters itself gets here (inputs cannot hold
    # them); they are not valid in YAML either.
    return RenderError(
        "the output contains control characters U+0002/U+0003 that are not from a filter",
        file=file,
    )
