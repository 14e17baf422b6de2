"""The one printer of what commands found: text for people, one JSON document for scripts.

Commands hand it frozen dataclasses (or lists of them, or the API's own answers); JSON keys
are camelCase as in the API and the AWS CLI, datetimes ISO 8601, enums their values.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from baryon.cli.options import OutputFormat

# Tables are as wide as they need: a cut ARN or stack name is a wrong one.
_TABLE_WIDTH = 200


@dataclasses.dataclass(frozen=True)
class Column:
    header: str
    # The field of each row shown in this column.
    field: str


def emit(output: OutputFormat, document: Any, text: Callable[[], None]) -> None:
    """Prints ``document`` as JSON, or calls ``text`` to print it for people."""
    if output is OutputFormat.JSON:
        click.echo(to_json(document))
    else:
        text()


def emit_rows(
    output: OutputFormat, key: str, rows: Sequence[Any], columns: Sequence[Column]
) -> None:
    """A list: a table for people, ``{key: [rows]}`` for scripts."""
    emit(output, {key: list(rows)}, lambda: print_table(rows, columns))


def print_table(rows: Sequence[Any], columns: Sequence[Column]) -> None:
    table = Table(*(column.header for column in columns))
    for row in rows:
        table.add_row(*(_cell(_field(row, column.field)) for column in columns))
    Console(width=_TABLE_WIDTH).print(table)


def to_json(document: Any) -> str:
    return json.dumps(_plain(document), indent=2)


def _plain(value: Any) -> Any:
    """Only JSON's own types remain."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            _camel(field.name): _plain(getattr(value, field.name))
            for field in dataclasses.fields(value)
        }
    if isinstance(value, Enum):
        return _plain(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)


def _field(row: Any, name: str) -> Any:
    return row[name] if isinstance(row, Mapping) else getattr(row, name)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%SZ")
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)
