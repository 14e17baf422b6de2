"""Decoding an AWS JSON 1.0 request body, refusing what cannot be represented.

AWS answers 400 SerializationException to a body it cannot decode; so does Baryon, before
anything recurses into the document or stores one of its strings:

- the body must be UTF-8 (strictly: encoded surrogates such as ED A0 80 are not UTF-8);
- nesting is bounded before decoding: Python's decoder only stops at ~1000 levels with a
  RecursionError, and everything after it (validation, serialization) recurses too;
- a ``\\ud800`` escape decodes to a lone surrogate, a str that no database or response can
  encode, so strings must be valid Unicode;
- ``NaN`` and ``Infinity`` are not JSON, and neither is a number literal that only reaches
  them by overflowing (``1e999``); integer literals are bounded too, since Python refuses to
  convert more than 4,300 digits (a ValueError that is no JSONDecodeError).
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

from baryon.api.errors import SerializationException

# No Proton or Baryon input shape nests deeper than a handful of levels.
MAX_JSON_DEPTH = 64
# Digits in one integer literal: the model's largest integer is a 64-bit long (19 digits).
MAX_INTEGER_DIGITS = 100

_BOM = b"\xef\xbb\xbf"
# A JSON string literal, unrolled so that the engine never backtracks; UTF-8 continuation
# bytes are never '"' or '\\', so this is exact on bytes.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_SAME_BRACKETS = bytes.maketrans(b"{}", b"[]")  # depth does not care which kind
_STEP = {ord("["): 1, ord("]"): -1}
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]", re.ASCII)


def decode_json_body(body: bytes) -> Any:
    if body.startswith(_BOM):
        body = body[len(_BOM) :]
    if not body.strip():
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SerializationException(
            f"The request body is not valid UTF-8: byte 0x{body[exc.start]:02x} at offset "
            f"{exc.start} ({exc.reason})."
        ) from None
    _check_depth(body)
    try:
        data = json.loads(
            text, parse_constant=_refuse_constant, parse_int=_integer, parse_float=_finite
        )
    except json.JSONDecodeError as exc:
        raise SerializationException(f"The request body is not valid JSON: {exc}") from None
    except RecursionError:  # the depth check makes this unreachable; never a 500 regardless
        raise SerializationException(_too_deep()) from None
    if _SURROGATE_ESCAPE.search(body):
        _check_strings(data)
    return data


def _too_deep() -> str:
    return f"The request body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep."


def _check_depth(body: bytes) -> None:
    brackets = _STRING.sub(b"", body).translate(_SAME_BRACKETS, _NOT_BRACKETS)
    if brackets.count(b"[") <= MAX_JSON_DEPTH:
        return
    # Scalars are gone, so every deepest nest ends in "[]": dropping those pairs (in C)
    # lowers the depth by exactly one and leaves far fewer brackets to count one by one.
    inner = brackets.replace(b"[]", b"")
    if max(accumulate(map(_STEP.__getitem__, inner)), default=0) + 1 > MAX_JSON_DEPTH:
        raise SerializationException(_too_deep())


def _integer(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise SerializationException(
            f"The request body is not valid JSON: an integer of {len(literal)} characters has "
            f"more than {MAX_INTEGER_DIGITS} digits."
        )
    return int(literal)


def _finite(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        shown = literal if len(literal) <= 40 else literal[:40] + "..."
        raise SerializationException(
            f"The request body is not valid JSON: {shown} is too large for a number."
        )
    return value


def _refuse_constant(name: str) -> Any:
    raise SerializationException(f"The request body is not valid JSON: {name} is not a number.")


def _check_strings(data: Any) -> None:
    """Finds a string holding a lone surrogate (decoded pairs are whole characters already)."""
    pending: list[tuple[Any, str]] = [(data, "")]
    while pending:
        value, path = pending.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                _check_string(key, f"a member name in '{path}'" if path else "a member name")
                pending.append((item, f"{path}.{key}" if path else key))
        elif isinstance(value, list):
            pending.extend((item, f"{path}[{index}]") for index, item in enumerate(value))
        elif isinstance(value, str):
            _check_string(value, f"'{path}'" if path else "the body")


def _check_string(value: str, where: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SerializationException(
            f"The request body has a lone UTF-16 surrogate (\\u{ord(value[exc.start]):04x}) "
            f"in {where}; strings must be valid Unicode."
        ) from None
