"""Telling an operation's own SQL from what every call costs, in tests that count statements."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, event

from baryon.store.tables import PolicyGeneration


@contextmanager
def statements_run(*engines: Engine) -> Iterator[list[str]]:
    """The SQL the block sends through ``engines``, in order (the list fills as it runs).
    An engine named twice (SQLite's read engine is its engine) is listened to once."""
    statements: list[str] = []
    engines = tuple(dict.fromkeys(engines))

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)


def is_operation_read(statement: str) -> bool:
    """A SELECT the operation itself sent; not the authorization's check of the policy
    generation, which every call makes (auth/policies/stored.py says why)."""
    text = statement.lstrip()
    return text.upper().startswith("SELECT") and PolicyGeneration.__tablename__ not in text
