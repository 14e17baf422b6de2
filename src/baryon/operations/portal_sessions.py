"""Signed-in browsers: a random token in a cookie, only its hash in the database.

A session ends after twelve idle hours, and after seven days whatever happens. Its CSRF token
is random too and lives beside it; every form of the session carries it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from baryon.runtime import Runtime
from baryon.store.tables import User, WebSession

IDLE_LIFETIME = timedelta(hours=12)
ABSOLUTE_LIFETIME = timedelta(days=7)
# Extending the idle expiry on every request would write on every page view; once an hour is
# as good for a twelve-hour window.
_REFRESH_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class ActiveSession:
    id: int
    user_id: int
    user_name: str
    csrf_token: str
    flash: str | None
    needs_refresh: bool


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(session: Session, user_id: int, now: datetime) -> str:
    """Returns the token for the cookie; expired sessions of anyone are swept on the way."""
    session.execute(delete(WebSession).where(WebSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=hash_token(token),
            user_id=user_id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + IDLE_LIFETIME,
        )
    )
    return token


def find_session(session: Session, token: str | None, now: datetime) -> ActiveSession | None:
    if not token or len(token) > 128:
        return None
    row = session.execute(
        select(WebSession, User.name)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.token_hash == hash_token(token))
    ).first()
    if row is None:
        return None
    web_session, user_name = row
    if web_session.expires_at <= now:
        return None
    return ActiveSession(
        id=web_session.id,
        user_id=web_session.user_id,
        user_name=user_name,
        csrf_token=web_session.csrf_token,
        flash=web_session.flash,
        needs_refresh=web_session.expires_at - now < IDLE_LIFETIME - _REFRESH_AFTER,
    )


def refresh(session: Session, session_id: int, now: datetime, *, take_flash: bool) -> None:
    """Extends the idle expiry (never past the absolute one) and/or clears the flash."""
    row = session.get(WebSession, session_id)
    if row is None:
        return
    row.expires_at = min(now + IDLE_LIFETIME, row.created_at + ABSOLUTE_LIFETIME)
    if take_flash:
        row.flash = None


def set_flash(session: Session, session_id: int, message: str) -> None:
    row = session.get(WebSession, session_id)
    if row is not None:
        row.flash = message[:2000]


def end_session(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(WebSession).where(WebSession.token_hash == hash_token(token)))


# --- for the portal: each call its own transaction ------------------------------------------


def current(runtime: Runtime, token: str | None, now: datetime) -> ActiveSession | None:
    """The signed-in session a browser's cookie names, if it is still valid."""
    with runtime.db.session() as session:
        return find_session(session, token, now)


def keep_alive(runtime: Runtime, session_id: int, now: datetime, *, take_flash: bool) -> None:
    with runtime.db.session(write=True) as session:
        refresh(session, session_id, now, take_flash=take_flash)


def leave_flash(runtime: Runtime, session_id: int, message: str) -> None:
    """A message for the session's next page (after a redirect)."""
    with runtime.db.session(write=True) as session:
        set_flash(session, session_id, message)


def sign_out(runtime: Runtime, token: str | None) -> None:
    with runtime.db.session(write=True) as session:
        end_session(session, token)
