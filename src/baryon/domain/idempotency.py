"""clientToken idempotency: a retried create returns what the first request made.

Same token and same parameters: the original resource. Same token, other parameters: a
ValidationException, as Proton answers. Tokens are honoured for eight hours.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from baryon.domain.errors import InvalidInput
from baryon.store.tables import IdempotencyToken

TOKEN_LIFETIME = timedelta(hours=8)


def request_digest(request: Mapping[str, Any]) -> str:
    relevant = {k: v for k, v in request.items() if k != "clientToken"}
    text = json.dumps(relevant, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# Built once (building a select and its cache key costs more than running it: issue 17).
_TOKEN = select(IdempotencyToken).where(
    IdempotencyToken.operation == bindparam("operation"),
    IdempotencyToken.client_token == bindparam("token"),
)


def recall(
    session: Session, operation: str, request: Mapping[str, Any], now: datetime
) -> str | None:
    """The resource reference a previous identical request produced, if any."""
    token = request.get("clientToken")
    if not token:
        return None
    row = session.scalars(_TOKEN, {"operation": operation, "token": token}).first()
    if row is None:
        return None
    if row.created_at < now - TOKEN_LIFETIME:
        session.execute(delete(IdempotencyToken).where(IdempotencyToken.id == row.id))
        session.flush()
        return None
    if row.request_digest != request_digest(request):
        raise InvalidInput(
            f"The clientToken '{token}' was already used with different parameters "
            f"(IdempotentParameterMismatch).",
            field=("clientToken",),
        )
    return row.resource_ref


def remember(
    session: Session, operation: str, request: Mapping[str, Any], resource_ref: str, now: datetime
) -> None:
    token = request.get("clientToken")
    if not token:
        return
    session.add(
        IdempotencyToken(
            operation=operation,
            client_token=token,
            request_digest=request_digest(request),
            resource_ref=resource_ref,
            created_at=now,
        )
    )
