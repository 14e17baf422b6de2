"""Keyset pagination: each page starts strictly after the last key served.

Offsets would rescan every skipped row (slow at 100,000 instances) and skip or repeat items
when rows are inserted between pages; a (sort key..., id) position does neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from baryon.store.tables import UtcDateTime

# A sort key: a mapped column (Template.name) or any column expression.
KeyColumn = ColumnElement[Any] | InstrumentedAttribute[Any]


def fetch_page(
    session: Session | Connection,
    stmt: Select[Any],
    keys: Sequence[KeyColumn],
    *,
    after: list[Any] | None,
    limit: int,
    descending: bool = False,
) -> tuple[list[Any], list[Any] | None]:
    """Returns (rows, position of the last row or None when this is the last page).

    ``keys`` must end with a unique column so that positions are total. Rows are what
    ``stmt`` selects; the key columns are read back by name from the row's entity or row.
    """
    if after is not None:
        values = [_restore(column, value) for column, value in zip(keys, after, strict=True)]
        row_key, row_after = tuple_(*keys), tuple_(*values)
        stmt = stmt.where(row_key < row_after if descending else row_key > row_after)
    order = [column.desc() if descending else column.asc() for column in keys]
    rows = list(session.execute(stmt.order_by(*order).limit(limit + 1)).all())
    has_more = len(rows) > limit
    rows = rows[:limit]
    if not has_more or not rows:
        return rows, None
    last = rows[-1]
    return rows, [_plain(_read_key(last, column)) for column in keys]


def _read_key(row: Any, column: ColumnElement[Any]) -> Any:
    name = column.key  # type: ignore[attr-defined]
    mapping = row._mapping
    if name in mapping:
        return mapping[name]
    entity = row[0]
    return getattr(entity, name)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _restore(column: ColumnElement[Any], value: Any) -> Any:
    if isinstance(getattr(column, "type", None), UtcDateTime) and isinstance(value, str):
        return datetime.fromisoformat(value)
    return value
