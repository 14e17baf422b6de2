"""What an operation handler gets besides its request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select
from sqlalchemy.orm import Session

from baryon.auth import identities
from baryon.auth.principals import Principal
from baryon.domain.arns import Arns
from baryon.domain.errors import InvalidInput
from baryon.runtime import Runtime
from baryon.service_models.baryon import AuditDoor
from baryon.settings import Settings
from baryon.store.database import Database
from baryon.store.page_tokens import InvalidPageToken
from baryon.store.paging import KeyColumn, fetch_page

DEFAULT_PAGE_SIZE = 100


@dataclass
class RequestContext:
    runtime: Runtime
    operation: str
    request_id: str
    caller: str  # the access key id that signed the request, or "portal:<user name>"
    now: datetime
    # Who the caller is (auth/identities.py): resolved once, on first use, from the identity
    # database (one statement).
    _principal: Principal | None = field(default=None, repr=False)
    # The front door the call came through, for the audit trail (api/ and web/ set theirs).
    door: AuditDoor = AuditDoor.SYSTEM
    # The policy generation of ``db`` as read for this call with the caller's key (api/), so
    # that authorization needs no read of its own; None: authorization reads it.
    policy_generation: int | None = None

    @property
    def principal(self) -> Principal:
        if self._principal is None:
            self._principal = identities.principal_for(self.runtime.identity_db, self.caller)
        return self._principal

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def db(self) -> Database:
        return self.runtime.db

    @property
    def arns(self) -> Arns:
        return self.runtime.arns

    def page(
        self,
        session: Session | Connection,
        stmt: Select[Any],
        keys: Sequence[KeyColumn],
        request: Mapping[str, Any],
        *,
        scope: dict[str, Any] | None = None,
        descending: bool = False,
    ) -> tuple[list[Any], str | None]:
        """One page of ``stmt`` for a List operation, honouring maxResults and nextToken.

        ``scope`` holds the request's filters; a token only works with the same filters.
        """
        scope = scope or {}
        token = request.get("nextToken")
        tokens = self.runtime.page_tokens
        try:
            after = tokens.decode(token, self.operation, scope) if token else None
        except InvalidPageToken as exc:
            raise InvalidInput(str(exc), field=("nextToken",)) from exc
        limit = request.get("maxResults") or DEFAULT_PAGE_SIZE
        rows, position = fetch_page(
            session, stmt, keys, after=after, limit=limit, descending=descending
        )
        next_token = tokens.encode(self.operation, scope, position) if position else None
        return rows, next_token

    def jobs_enqueued(self) -> None:
        """Wakes in-process workers after a transaction that enqueued jobs has committed."""
        self.runtime.job_wakeup.set()
