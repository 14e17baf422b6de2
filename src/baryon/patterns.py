"""Linear-time patterns: every regular expression that comes from a model or a template schema
runs on RE2, whose matching time grows linearly with the text, never exponentially.

Python's ``re`` backtracks: ``^(a+)+$`` against 26 characters takes seconds and doubles with
each one more, and the server evaluated such patterns on request values while holding the
event loop. RE2 has no backtracking, so it also has no lookaround and no backreferences; a
pattern that uses them is refused with a reason (``PatternError``) instead of being run.

Patterns are written for Python or ECMA-262 (JSON Schema) and mean the same in both for the
parts that matter here; this module gives them that meaning on RE2, ASCII only:

- ``\\d``, ``\\w`` and ``\\b`` are ASCII in RE2 already (Python's accept Arabic-Indic digits).
- ``\\s`` and ``\\S`` become ``[[:space:]]`` and ``[[:^space:]]``: RE2's ``\\s`` leaves out the
  vertical tab that Python's and ECMA's include.
- ``$`` (without the ``m`` flag) matches only at the very end of the text in RE2, so
  ``^prod$`` does not match "prod\\n" as Python's would. ``\\Z`` (Python's end of text) becomes
  RE2's ``\\z``.
- ``\\uXXXX`` and ``\\UXXXXXXXX`` become ``\\x{...}``.

Each pattern is translated and compiled once and cached. Texts are matched as UTF-8 bytes
(lone surrogates, which JSON allows, pass through as bytes that match no ASCII class).

This module is a leaf: it imports nothing else from Baryon, so api/, bundles/, web/ and cli/
can all use it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import re2

# The memory one compiled pattern may use (program and DFA cache). Past it RE2 falls back to
# its NFA, which is slower but still linear; a pattern whose program alone needs more fails
# to compile ("pattern too large").
MAX_MEMORY = 8 << 20
_CACHED = 1024
_HEX = frozenset("0123456789abcdefABCDEF")
_SPACE, _NOT_SPACE = "[:space:]", "[:^space:]"
_SYNTAX_HINT = (
    "patterns run on a linear-time engine (RE2 syntax), which has no lookahead, lookbehind "
    "or backreferences"
)


class PatternError(ValueError):
    """A pattern that cannot be compiled for the linear-time engine; str() says why, as a
    predicate ("is not a valid regular expression: ...", "cannot be used: ...")."""


class Pattern:
    """A compiled linear-time pattern."""

    __slots__ = ("_regexp", "source", "translated")

    def __init__(self, source: str, translated: str, regexp: Any) -> None:
        self.source = source
        self.translated = translated
        self._regexp = regexp

    def search(self, text: str) -> bool:
        """Whether the pattern matches anywhere in ``text`` (Smithy and JSON Schema semantics:
        patterns are not implicitly anchored)."""
        return self._regexp.search(_utf8(text)) is not None

    def __repr__(self) -> str:
        return f"Pattern({self.source!r})"


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _options() -> re2.Options:
    options = re2.Options()
    options.max_mem = MAX_MEMORY
    options.log_errors = False  # the reason goes into PatternError, not to stderr
    options.never_capture = True  # only "does it match" is ever asked
    return options


@lru_cache(maxsize=_CACHED)
def compile_pattern(source: str) -> Pattern:
    """The linear-time pattern for ``source``; raises PatternError if RE2 cannot run it."""
    translated = translate(source)
    try:
        regexp = re2.compile(translated, _options())
    except re2.error as exc:
        raise PatternError(_refusal(source, _reason(exc))) from None
    return Pattern(source, translated, regexp)


def search(source: str, text: str) -> bool:
    """Whether pattern ``source`` matches anywhere in ``text``."""
    if len(text) <= _ANSWERED_CHARS:
        return _answered(source, text)
    return compile_pattern(source).search(text)


# Answers for short texts are kept: a name or an ARN is checked on every request that carries
# it, and a call into RE2's Python binding costs more than the lookup (its matching was ~3% of
# a signed GetServiceInstance's server CPU, bench.api_latency profile). Longer texts are
# matched each time, so that the cache holds at most _ANSWERED short strings.
_ANSWERED_CHARS = 256
_ANSWERED = 4096


@lru_cache(maxsize=_ANSWERED)
def _answered(source: str, text: str) -> bool:
    return compile_pattern(source).search(text)


def _refusal(source: str, reason: str) -> str:
    # Python's compiler (never its matcher) tells a broken pattern, with the position of the
    # mistake, from one that is valid but needs backtracking, which RE2 names the construct of.
    try:
        re.compile(source)
    except re.error as exc:
        return f"is not a valid regular expression: {exc}"
    except (OverflowError, RecursionError):
        return f"is not a valid regular expression: {reason}"
    return f"cannot be used: {reason}; {_SYNTAX_HINT}"


def _reason(exc: re2.error) -> str:
    detail = exc.args[0] if exc.args else "invalid pattern"
    return detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)


def translate(source: str) -> str:
    """``source`` (Python/ECMA syntax) rewritten where RE2 would read it differently."""
    out: list[str] = []
    in_class = False
    index, size = 0, len(source)
    while index < size:
        char = source[index]
        if char == "\\" and index + 1 < size:
            text, index = _escape(source, index, in_class)
            out.append(text)
            continue
        if in_class:
            if source.startswith("[:", index):
                end = source.find(":]", index + 2)
                if end != -1:  # a POSIX class such as [:alpha:] is copied whole
                    out.append(source[index : end + 2])
                    index = end + 2
                    continue
            if char == "]":
                in_class = False
            out.append(char)
            index += 1
            continue
        out.append(char)
        index += 1
        if char == "[":
            in_class = True
            # "[^]...]" and "[]...]": a "]" right after the opening is a literal.
            if source.startswith("^", index):
                out.append("^")
                index += 1
            if source.startswith("]", index):
                out.append("]")
                index += 1
    return "".join(out)


def _escape(source: str, index: int, in_class: bool) -> tuple[str, int]:
    """The RE2 text for the escape at ``source[index]`` ("\\") and the index after it."""
    letter = source[index + 1]
    if letter in "sS":
        posix = _SPACE if letter == "s" else _NOT_SPACE
        return (posix if in_class else f"[{posix}]"), index + 2
    if letter == "Z" and not in_class:
        return "\\z", index + 2
    for marker, width in (("u", 4), ("U", 8)):
        digits = source[index + 2 : index + 2 + width]
        if letter == marker and len(digits) == width and set(digits) <= _HEX:
            return f"\\x{{{digits}}}", index + 2 + width
    return source[index : index + 2], index + 2
