"""The Jinja environment templates run in: Jinja's immutable sandbox plus budgets.

Jinja's sandbox already refuses underscore attributes, Python internals and mutation of
lists and dicts. This subclass adds what a multi-tenant renderer needs on top:

* every call, operator, filter, test, loop iteration and output chunk is charged to a
  per-render Budget (template_tree.py routes loops, ``~`` joins, comparisons and literals
  through the ``budget_*`` hooks below), so no template can loop forever, recurse without
  end, or build gigabyte values;
* namespace lookups go through values.py: data keys win over dict methods, and a missing
  key becomes a strict undefined whose message names the full path;
* no randomness (``lipsum`` and the ``random`` filter are gone) and no loader, so the same
  inputs always give the same bytes and a template cannot read other files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, cast

from jinja2 import StrictUndefined, pass_context
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from baryon.render.budget import Budget
from baryon.render.errors import BudgetExceeded
from baryon.render.filters import PROTON_FILTERS
from baryon.render.guards import (
    check_binop,
    check_call,
    guard_filters,
    guard_tests,
    guarded_format,
)
from baryon.render.indentation import IndentedBlock, mark_block
from baryon.render.values import ContextDict, ContextList, child_path, path_of

_DICT_METHODS = frozenset(name for name in dir(dict) if not name.startswith("_"))
HOOKS = frozenset({"budget_iterate", "budget_concat", "budget_literal", "budget_operand"})


class PathUndefined(StrictUndefined):
    """The sandbox's undefined value: fails on any use (Proton: "rendering fails"). The
    sandbox creates it with a hint naming the missing namespace path (see _lookup)."""

    __slots__ = ()


@pass_context
def _finalize(context: Context, value: Any) -> str:
    # pass_context also stops Jinja from folding constants at compile time, so every piece
    # of output, template text included, passes here and is counted.
    budget = cast(TemplateSandbox, context.environment).budget
    budget.step()
    budget.measure(value, as_text=True)
    text = mark_block(value) if isinstance(value, IndentedBlock) else str(value)
    budget.produce(len(text))
    return text


class CountedIterable:
    """A loop's iterable; each item costs one step."""

    __slots__ = ("_budget", "_items")

    def __init__(self, items: Iterable[Any], budget: Budget) -> None:
        self._items = items
        self._budget = budget

    def __iter__(self) -> Iterator[Any]:
        for item in self._items:
            self._budget.step()
            yield item

    def __len__(self) -> int:
        return len(self._items)  # type: ignore[arg-type]  # TypeError tells Jinja "unsized"


class TemplateSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, budget: Budget) -> None:
        super().__init__(
            autoescape=False,
            keep_trailing_newline=True,  # samples end with a newline; keep the bytes
            undefined=PathUndefined,
            finalize=_finalize,
        )
        self.budget = budget
        del self.globals["lipsum"]  # random text: renders must be reproducible
        self.globals["range"] = _capped_range(budget)
        del self.filters["random"]
        self.filters.update(PROTON_FILTERS)
        self.filters = guard_filters(self.filters, budget)
        # Jinja's stubs type its tests as plain functions; any callable will do here.
        self.tests = guard_tests(cast(Mapping[str, Callable[..., Any]], self.tests), budget)

    # -- hooks called from rewritten templates (template_tree.py) ------------------------

    def budget_iterate(self, items: Iterable[Any]) -> CountedIterable:
        return CountedIterable(items, self.budget)

    def budget_concat(self, parts: list[Any]) -> str:
        size = sum(self.budget.measure(part, as_text=True) for part in parts)
        self.budget.check_size(size, "a string joined with ~")
        text = "".join(str(part) for part in parts)
        self.budget.produce(len(text))
        return text

    def budget_literal(self, value: Any) -> Any:
        self.budget.account(value)
        return value

    def budget_operand(self, value: Any) -> Any:
        self.budget.measure(value)  # comparing costs time in proportion to size
        return value

    # -- sandbox overrides ---------------------------------------------------------------

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        # Name namespace containers by what they are to the template author.
        kinds: dict[type, str] = {ContextDict: "dict", ContextList: "list"}
        kind = kinds.get(type(obj), type(obj).__name__)
        return self.undefined(
            f"access to attribute {attribute!r} of {kind!r} object is unsafe.",
            name=attribute,
            obj=obj,
            exc=SecurityError,
        )

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        if getattr(obj, "__self__", None) is self and obj.__name__ in HOOKS:
            return obj(*args)  # our own budget hooks; they charge the budget themselves
        budget = self.budget
        budget.step()
        args = check_call(budget, obj, args)
        budget.enter()
        try:
            result = super().call(context, obj, *args, **kwargs)
        finally:
            budget.leave()
        budget.account(result)
        return result

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        self.budget.step()
        check_binop(self.budget, operator, left, right)
        result = super().call_binop(context, operator, left, right)
        self.budget.account(result)
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        return guarded_format(self.budget, value.__self__, wrapped)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, ContextDict):
            return self._lookup(obj, attribute, methods=True)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, ContextDict):
            return self._lookup(obj, argument, methods=False)
        if isinstance(obj, ContextList) and type(argument) is int:
            try:
                return list.__getitem__(obj, argument)
            except IndexError:
                hint = (
                    f"'list object' has no element {argument} "
                    f"({child_path(path_of(obj), argument)})"
                )
                return self.undefined(hint=hint, obj=obj, name=str(argument))
        return super().getitem(obj, argument)

    def _lookup(self, obj: ContextDict, key: Any, *, methods: bool) -> Any:
        # Data first: an input called "items" or "values" is the input, not dict.items.
        try:
            return dict.__getitem__(obj, key)
        except (KeyError, TypeError):
            pass
        if isinstance(key, str):
            absent = obj.absent(key)
            if absent is not None:
                return absent
            if methods and key in _DICT_METHODS:
                return super().getattr(obj, key)
            if key.startswith("_"):
                return self.unsafe_undefined(obj, key)  # the sandbox's own rule
            what = f"attribute {key!r}"
        else:
            what = f"element {key!r}"
        hint = f"'dict object' has no {what} ({child_path(path_of(obj), key)})"
        return self.undefined(hint=hint, obj=obj, name=key)


def _capped_range(budget: Budget) -> Callable[..., range]:
    def capped_range(*args: int) -> range:
        items = range(*args)
        # len() overflows for astronomically long ranges; count without it.
        toward_stop = items.step - (1 if items.step > 0 else -1)
        count = (items.stop - items.start + toward_stop) // items.step
        if count > budget.limits.max_range:
            raise BudgetExceeded(
                f"range() of {count:,} items is more than the {budget.limits.max_range:,} allowed"
            )
        return items

    return capped_range
