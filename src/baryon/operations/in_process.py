"""Operations called in-process, by front doors other than the API (the portal, the CLI).

They call the same operation functions in the same kind of context as the API does, so that
a request gives the same result and the same error whichever door it came through. Only the
caller differs: a signed-in portal user instead of an access key.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from baryon.auth.principals import PORTAL_PREFIX, Principal
from baryon.operations.context import RequestContext
from baryon.runtime import Runtime

PORTAL_CALLER = PORTAL_PREFIX  # a portal user is recorded as "portal:<user name>"


def portal_caller(user_name: str) -> str:
    return PORTAL_CALLER + user_name


def context(
    runtime: Runtime,
    caller: str,
    operation: str,
    now: datetime | None = None,
    *,
    principal: Principal | None = None,
) -> RequestContext:
    """The context an in-process call runs in; ``operation`` names it in page tokens and logs.
    ``principal``: who the caller is when that is already known (the portal reads it once
    per visit); otherwise it is read from the caller on first use."""
    return RequestContext(
        runtime=runtime,
        operation=operation,
        request_id=str(uuid.uuid4()),
        caller=caller,
        now=now or datetime.now(UTC),
        _principal=principal,
    )
