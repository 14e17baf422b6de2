"""May this principal make this call? The one decision every front door gets (api/, web/, the
CLI through the API), taken before an operation's handler runs (operations/registry.py).

A denial raises Forbidden, which the API answers with AccessDeniedException and the portal
with a 403 page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from baryon.operations.context import RequestContext


def authorize(
    context: RequestContext, service: str, operation: str, request: Mapping[str, Any]
) -> None:
    """Raises Forbidden when no policy lets ``context.principal`` make this call."""
