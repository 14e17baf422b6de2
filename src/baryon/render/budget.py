"""Per-render accounting: operations, text produced, call nesting, and value sizes.

One Budget lives for one render. The sandbox charges it from its hooks (calls, filters,
operators, loop iterations, output); when a count passes its limit the render stops with
BudgetExceeded, which names the limit so the author knows what to change.

`measure` estimates how long a value would be as text, without building that text. It is
the guard in front of everything that turns values into strings: a list that holds the same
large string a million times is small in memory but enormous once printed.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from typing import Any, NamedTuple

from jinja2.exceptions import TemplateRuntimeError
from jinja2.runtime import Undefined
from jinja2.utils import Namespace

from baryon.render.errors import BudgetExceeded
from baryon.render.limits import RenderLimits

_SEQUENCES = (list, tuple, set, frozenset, KeysView, ValuesView, ItemsView)
_OPAQUE_SIZE = 32  # macros, loop objects, cyclers: their text is a short repr
_CHARS_PER_STEP = 4096  # long strings cost steps too: scanning them takes time


class Budget:
    __slots__ = ("_sizes", "depth", "limits", "produced", "steps")

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self.steps = 0
        self.produced = 0
        self.depth = 0
        self._sizes: dict[int, tuple[Any, _Size]] = {}

    def step(self, count: int = 1) -> None:
        self.steps += count
        if self.steps > self.limits.max_steps:
            raise BudgetExceeded(
                f"the template did more than {self.limits.max_steps:,} operations "
                "(an endless or very large loop?)"
            )

    def produce(self, chars: int) -> None:
        self.produced += chars
        if self.produced > self.limits.max_produced_chars:
            raise BudgetExceeded(
                f"the template built more than {self.limits.max_produced_chars:,} characters "
                "of text and data while rendering"
            )

    def enter(self) -> None:
        self.depth += 1
        if self.depth > self.limits.max_call_depth:
            raise BudgetExceeded(
                f"calls are nested more than {self.limits.max_call_depth} deep "
                "(a macro or recursive loop that never stops?)"
            )

    def leave(self) -> None:
        self.depth -= 1

    def check_size(self, chars: int, what: str = "a value") -> None:
        if chars > self.limits.max_value_chars:
            raise BudgetExceeded(
                f"{what} would be {chars:,} characters long; "
                f"the limit is {self.limits.max_value_chars:,}"
            )

    def check_int(self, number: int, what: str = "a number") -> None:
        if abs(number) > self.limits.max_value_chars:
            raise BudgetExceeded(f"{what} {number} is larger than {self.limits.max_value_chars:,}")

    def account(self, result: Any) -> None:
        """Charge a freshly built value: its size as text must fit, its allocation counts."""
        self.measure(result)
        if isinstance(result, str | bytes | list | tuple | dict | set | frozenset):
            self.produce(len(result) + 1)
        else:
            self.produce(1)

    def measure(self, value: Any, *, as_text: bool = False) -> int:
        """Estimated length of `value` as text; refuses values over the size limits.

        `as_text`: the value is about to become text (output, ``~``, string filters), so it
        must be plain data: an undefined value inside raises its error, and objects whose
        text is not stable (functions, generators, sets: addresses and hash order) are
        refused, keeping the output the same from one process to the next.
        """
        size = self._size(value, 0, as_text).size
        self.check_size(size)
        return size

    def _size(self, item: Any, depth: int, as_text: bool) -> _Size:
        self.step()
        if isinstance(item, str | bytes | bytearray):
            # A string is written bare, but quoted when it sits inside a container.
            self.step(len(item) // _CHARS_PER_STEP)
            return _Size(len(item) + (2 if depth else 0), True, 0)
        printable = isinstance(item, _STABLE_TEXT)
        if as_text and not printable:
            _refuse_as_text(item)
        children = _children(item)
        if children is None:
            return _Size(_own_size(item), printable, 0)
        known = self._sizes.get(id(item))
        if known is not None and known[0] is item:
            found = known[1]
        else:
            found = self._container_size(item, children, depth, as_text)
        if depth + found.height > self.limits.max_value_depth:
            raise BudgetExceeded(
                f"a value is nested more than {self.limits.max_value_depth} levels deep"
            )
        return found

    def _container_size(self, item: Any, children: list[Any], depth: int, as_text: bool) -> _Size:
        total = _own_size(item)
        printable = isinstance(item, _STABLE_TEXT)
        height = 0
        for child in children:
            if depth + 1 > self.limits.max_value_depth:
                break  # the caller refuses it; do not walk further down
            found = self._size(child, depth + 1, as_text)
            total += found.size
            printable = printable and found.printable
            height = max(height, found.height)
            self.check_size(total)
        result = _Size(total, printable, height + 1)
        # Templates cannot change lists and mappings (the sandbox is immutable), so a
        # container's size is remembered: a value built as [x, x, x, ...] from one large x
        # costs one walk of x, not one per reference. Namespaces can change; not cached.
        if printable and isinstance(item, list | tuple | dict):
            self._sizes[id(item)] = (item, result)  # holding `item` keeps its id unique
        return result


class _Size(NamedTuple):
    size: int  # characters as text
    printable: bool  # plain data throughout (see measure's as_text)
    height: int  # levels of containers below and including this one


_STABLE_TEXT = (
    str, bytes, bytearray, bool, int, float, type(None), range, Mapping, Namespace,
    list, tuple, KeysView, ValuesView, ItemsView,
)  # fmt: skip


def _refuse_as_text(item: Any) -> None:
    if isinstance(item, Undefined):
        str(item)  # raises the undefined's own error, naming the missing path
    hint = " (add | list to write out its items)" if isinstance(item, Iterator) else ""
    raise TemplateRuntimeError(
        f"a {type(item).__name__} object cannot be written out as text{hint}"
    )


def _own_size(item: Any) -> int:
    if item is None or isinstance(item, bool | float):
        return 6
    if isinstance(item, int):
        return item.bit_length() // 3 + 2
    if isinstance(item, range):
        digits = len(str(max(abs(item.start), abs(item.stop))))
        return len(item) * (digits + 2) + 2
    if isinstance(item, (Mapping, Namespace, *_SEQUENCES)):
        return 2
    return _OPAQUE_SIZE


def _children(item: Any) -> list[Any] | None:
    if isinstance(item, Undefined):
        return None
    if isinstance(item, Mapping):
        return [part for pair in item.items() for part in pair]
    if isinstance(item, Namespace):
        # Jinja keeps a namespace's attributes in this private dict and offers no way to
        # list them; walk it so that a namespace cannot hide a huge value from the guard.
        attrs = object.__getattribute__(item, "_Namespace__attrs")
        return [part for pair in attrs.items() for part in pair]
    if isinstance(item, _SEQUENCES):
        return list(item)
    return None
