"""Size checks in front of the operations that can build large values from small ones.

A sandboxed template cannot reach Python internals, but it can still ask Python for a
gigabyte string ("x".ljust(10**9), '{:>999999999}'.format(1), "%0999999999d" % 1, a list
repeated a million times and then joined). Measuring the result afterwards is too late, so
each such operation is checked *before* it runs, from its arguments; everything else is
measured afterwards by the sandbox (Budget.account).
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable, Iterable, Mapping
from types import BuiltinMethodType
from typing import Any

from jinja2.environment import Environment
from jinja2.exceptions import SecurityError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, Undefined

from baryon.render.budget import Budget
from baryon.render.errors import BudgetExceeded

_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")
_DIGITS = re.compile(r"\d+")
_REFUSED_STR_METHODS = {"translate", "maketrans"}  # a table can map one char to any string
_PLUMBING = (Context, EvalContext, Environment)  # what pass_context & co. put first
_DEFAULTS = {"default", "d"}  # the filters whose purpose is to accept undefined values
# Filters that turn their input into text: it must be plain data (see Budget.measure).
_STRINGIFYING = {
    "capitalize", "center", "e", "escape", "forceescape", "format", "indent", "lower",
    "pprint", "replace", "safe", "string", "striptags", "title", "tojson", "trim", "truncate",
    "upper", "urlencode", "urlize", "wordcount", "wordwrap", "xmlattr", "proton_cfn_sanitize",
}  # fmt: skip


def check_number(budget: Budget, digits: str, what: str) -> None:
    # Compare the digit count first: int() of a 100,000-digit string is itself slow.
    if len(digits) > 12:
        budget.check_size(10**12, what)
    budget.check_int(int(digits), what)


def check_printf(budget: Budget, fmt: str, values: Any) -> None:
    """`fmt % values` (and the `format` filter): no '*' widths, no huge widths."""
    for match in _PRINTF.finditer(fmt):
        for part in match.groups():
            if part == "*":
                raise SecurityError("'*' widths and precisions are not allowed in % formats")
            if part:
                check_number(budget, part, "a % format width")
    budget.check_size(len(fmt) + budget.measure(values, as_text=True), "a formatted string")


def check_format_spec(budget: Budget, fmt: str) -> None:
    """str.format / format_map: every width must be a small literal number."""
    for _literal, _field, spec, _conversion in string.Formatter().parse(fmt):
        if not spec:
            continue
        if "{" in spec:
            raise SecurityError("nested replacement fields in format specs are not allowed")
        for digits in _DIGITS.findall(spec):
            check_number(budget, digits, "a format width")


def guarded_format(budget: Budget, fmt: str, format_func: Callable[..., str]) -> Callable[..., str]:
    check_format_spec(budget, fmt)

    def guarded(*args: Any, **kwargs: Any) -> str:
        # The sandbox's formatter guards how fields are reached; the arguments must be
        # plain data, so that no object's address can reach the output through a format.
        values = (*args, *kwargs.values())
        size = len(fmt) + sum(budget.measure(value, as_text=True) for value in values)
        budget.check_size(size, "a formatted string")
        return format_func(*args, **kwargs)

    return guarded


def check_binop(budget: Budget, operator: str, left: Any, right: Any) -> None:
    if operator == "*":
        _check_repeat(budget, left, right)
    elif operator == "**":
        growing = _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1
        if growing and left.bit_length() * right > budget.limits.max_int_bits:
            raise SecurityError(
                f"{left} ** {right} is larger than {budget.limits.max_int_bits} bits"
            )
    elif operator == "+":
        if _is_sequence(left) and _is_sequence(right):
            budget.check_size(_size(budget, left) + _size(budget, right), "a joined value")
    elif operator == "%" and isinstance(left, str):
        check_printf(budget, left, right)


def _check_repeat(budget: Budget, left: Any, right: Any) -> None:
    for sequence, count in ((left, right), (right, left)):
        if _is_sequence(sequence) and _is_int(count):
            if count > 0:
                budget.check_size(_size(budget, sequence) * count, "a repeated value")
            return
    both_ints = _is_int(left) and _is_int(right)
    if both_ints and left.bit_length() + right.bit_length() > budget.limits.max_int_bits:
        raise SecurityError(
            f"a product larger than {budget.limits.max_int_bits} bits is not allowed"
        )


def _size(budget: Budget, value: Any) -> int:
    return len(value) if isinstance(value, str | bytes) else budget.measure(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int)


def _is_sequence(value: Any) -> bool:
    return isinstance(value, str | bytes | list | tuple)


def check_call(budget: Budget, func: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Pre-checks for methods of str and bytes that can grow text; returns the arguments
    to call with (a generator handed to join() is consumed here, item by item)."""
    owner = getattr(func, "__self__", None)
    if not isinstance(func, BuiltinMethodType) or not isinstance(owner, str | bytes):
        return args
    name = func.__name__
    budget.step(len(owner) // 4096)  # most string methods scan the whole string
    if name in _REFUSED_STR_METHODS:
        raise SecurityError(f"str.{name}() is not available in templates")
    if name in ("ljust", "rjust", "center", "zfill") and args and _is_int(args[0]):
        budget.check_size(args[0], f"str.{name}() output")
    elif name == "expandtabs":
        tabsize = args[0] if args and _is_int(args[0]) else 8
        tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
        budget.check_size(len(owner) + tabs * tabsize, "str.expandtabs() output")
    elif name == "replace" and len(args) >= 2:
        budget.check_size(_replaced_size(owner, args[0], args[1], args[2:]), "str.replace() output")
    elif name == "join" and args:
        items = materialize(budget, args[0])
        budget.check_size(_joined_size(budget, items, owner), "str.join() output")
        return (items, *args[1:])
    return args


def _replaced_size(text: Any, old: Any, new: Any, count: tuple[Any, ...]) -> int:
    text, old, new = (part if isinstance(part, bytes) else str(part) for part in (text, old, new))
    found = len(text) + 1 if not old else text.count(old)
    if count and _is_int(count[0]) and count[0] >= 0:
        found = min(found, count[0])
    return len(text) + found * max(len(new) - len(old), 0)


def _joined_size(budget: Budget, items: list[Any], separator: Any) -> int:
    size = sum(budget.measure(item, as_text=True) for item in items)
    return size + len(separator) * max(len(items) - 1, 0)


def materialize(budget: Budget, iterable: Any) -> Any:
    """Consume an iterable (maybe a generator from `map`) with every item counted: a list,
    or what was given when it is not iterable, so that the real call fails as it would."""
    if isinstance(iterable, Undefined) or not isinstance(iterable, Iterable):
        return iterable
    items = []
    size = 0
    for item in iterable:
        size += budget.measure(item)
        budget.check_size(size, "a joined value")
        items.append(item)
    return items


# -- filters and tests -------------------------------------------------------------------

FilterCheck = Callable[[Budget, list[Any], dict[str, Any]], None]


def _arg(args: list[Any], kwargs: dict[str, Any], index: int, name: str, default: Any) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _text(value: Any) -> str:
    return "" if isinstance(value, Undefined) else str(value)


def _check_center(budget: Budget, args: list[Any], kwargs: dict[str, Any]) -> None:
    width = _arg(args, kwargs, 1, "width", 80)
    if _is_int(width):
        budget.check_size(width, "center() output")


def _check_indent(budget: Budget, args: list[Any], kwargs: dict[str, Any]) -> None:
    text = _text(_arg(args, kwargs, 0, "s", ""))
    width = _arg(args, kwargs, 1, "width", 4)
    per_line = len(width) if isinstance(width, str) else width if _is_int(width) else 0
    budget.check_int(per_line, "an indent width")
    budget.check_size(len(text) + (text.count("\n") + 2) * per_line, "indent() output")


def _check_wordwrap(budget: Budget, args: list[Any], kwargs: dict[str, Any]) -> None:
    text = _text(_arg(args, kwargs, 0, "s", ""))
    wrapstring = _arg(args, kwargs, 3, "wrapstring", None) or "\n"
    budget.step(len(text) // 64)  # textwrap is slow per character
    # At worst every character ends up on a line of its own.
    budget.check_size(len(text) + (len(text) + 1) * len(str(wrapstring)), "wordwrap() output")


def _check_replace(budget: Budget, args: list[Any], kwargs: dict[str, Any]) -> None:
    text = _arg(args, kwargs, 0, "s", "")
    old = _arg(args, kwargs, 1, "old", "")
    new = _arg(args, kwargs, 2, "new", "")
    count = _arg(args, kwargs, 3, "count", None)
    budget.check_size(
        _replaced_size(_text(text), _text(old), _text(new), (count,)), "replace() output"
    )


def _check_format(budget: Budget, args: list[Any], kwargs: dict[str, Any]) -> None:
    if args:
        check_printf(budget, _text(args[0]), (args[1:], kwargs))


def _check_batch(budget: Budget, args: list[Any], kwargs: dict[str, Any]) -> None:
    count = _arg(args, kwargs, 1, "linecount", 1)
    if _is_int(count):
        budget.check_int(count, "a batch size")


def _check_slice(budget: Budget, args: list[Any], kwargs: dict[str, Any]) -> None:
    count = _arg(args, kwargs, 1, "slices", 1)
    if _is_int(count) and count > budget.limits.max_range:
        raise BudgetExceeded(
            f"slice({count}) would build more than {budget.limits.max_range:,} lists"
        )


def _check_join(budget: Budget, args: list[Any], kwargs: dict[str, Any]) -> None:
    items = _arg(args, kwargs, 0, "value", [])
    separator = _text(_arg(args, kwargs, 1, "d", ""))
    if isinstance(items, list):
        budget.check_size(_joined_size(budget, items, separator), "join() output")


_FILTER_CHECKS: dict[str, FilterCheck] = {
    "center": _check_center,
    "indent": _check_indent,
    "wordwrap": _check_wordwrap,
    "replace": _check_replace,
    "format": _check_format,
    "batch": _check_batch,
    "slice": _check_slice,
    "join": _check_join,
}


def guard_filters(filters: Mapping[str, Callable[..., Any]], budget: Budget) -> dict[str, Any]:
    return {
        name: _guard(name, func, budget, _FILTER_CHECKS.get(name), strict=True)
        for name, func in filters.items()
    }


def guard_tests(tests: Mapping[str, Callable[..., Any]], budget: Budget) -> dict[str, Any]:
    # Tests keep Jinja's behaviour on undefined values: `x.nope is string` is just false.
    return {name: _guard(name, func, budget, None, strict=False) for name, func in tests.items()}


def _guard(
    name: str,
    func: Callable[..., Any],
    budget: Budget,
    check: FilterCheck | None,
    *,
    strict: bool,
) -> Callable[..., Any]:
    # functools.wraps copies the function's __dict__, which is where Jinja's pass_context /
    # pass_eval_context / pass_environment markers live, so Jinja still passes them.
    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget.step()
        lead = 1 if args and isinstance(args[0], _PLUMBING) else 0
        values = list(args[lead:])
        if strict and values and isinstance(values[0], Undefined) and name not in _DEFAULTS:
            str(values[0])  # fail with the undefined's own message, naming the missing path
        if name == "join" and values:
            values[0] = materialize(budget, values[0])
        for index, value in enumerate((*values, *kwargs.values())):
            budget.measure(value, as_text=index == 0 and name in _STRINGIFYING)
        if check is not None:
            check(budget, values, kwargs)
        result = func(*args[:lead], *values, **kwargs)
        budget.account(result)
        return result

    return guarded
