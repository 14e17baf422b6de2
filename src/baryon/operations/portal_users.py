"""Portal users: created with ``baryon users create``, signed in with a password.

After a few wrong passwords in a row a user's sign-in is refused for a while, growing with
every further failure; the count lives in the database, so every replica enforces it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from baryon.auth import identities
from baryon.auth.identities import IdentityError, UserKind
from baryon.operations.portal_passwords import hash_password, unknown_user_hash, verify_password
from baryon.store.tables import TrustedDevice, User, WebSession

# fullmatch: `$` also matches before a final newline, which let "alice\n" be a user name.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}", re.ASCII)
FREE_ATTEMPTS = 5
_FIRST_LOCK = timedelta(seconds=30)
_LONGEST_LOCK = timedelta(minutes=15)


class UserError(Exception):
    """A user cannot be created or changed; the message says why."""


@dataclass(frozen=True)
class UserInfo:
    name: str
    created_at: datetime


@dataclass(frozen=True)
class SignIn:
    user_id: int | None  # None: refused
    locked_until: datetime | None = None


def check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise UserError(
            "A user name has 1 to 64 characters: letters, digits, '.', '_', '@' and '-', "
            "starting with a letter or a digit."
        )


def create_user(session: Session, name: str, password: str, now: datetime) -> None:
    """A person with a password (auth/identities.py): the first person is an admin."""
    check_name(name)
    try:
        identities.create_user(
            session, name, UserKind.PERSON, now, password_hash=hash_password(password)
        )
    except IdentityError as exc:
        raise UserError(exc.message) from exc


def set_password(session: Session, name: str, password: str, now: datetime) -> None:
    """A new password also signs the user out everywhere and ends every browser's trust."""
    user = _find(session, name)
    if user.kind == UserKind.ROBOT.value:
        raise UserError(f"'{name}' is a robot: robots have access keys, never a password.")
    user.password_hash = hash_password(password)
    user.password_changed_at = now
    user.failed_sign_ins = 0
    user.locked_until = None
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    session.execute(delete(TrustedDevice).where(TrustedDevice.user_id == user.id))


def delete_user(session: Session, name: str) -> None:
    user = _find(session, name)
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    session.delete(user)


def list_users(session: Session) -> list[UserInfo]:
    rows = session.scalars(select(User).order_by(User.name))
    return [UserInfo(row.name, row.created_at) for row in rows]


def _find(session: Session, name: str) -> User:
    user = session.scalars(select(User).where(User.name == name).with_for_update()).first()
    if user is None:
        raise UserError(f"There is no user '{name}'.")
    return user


def sign_in(
    session: Session, name: str, password: str, now: datetime, *, trusted_device: bool = False
) -> SignIn:
    """Checks a password (in a write transaction: failures are counted).

    In a browser trusted for this user (operations/trusted_devices.py, which counts its
    failures) the user's pause does not apply, and neither its failures nor its success touch
    the pause: others' guesses must not lock the user out, nor the user's sign-in reopen a
    guesser's window.
    """
    user = session.scalars(select(User).where(User.name == name).with_for_update()).first()
    if user is None:
        verify_password(password, unknown_user_hash())
        return SignIn(None)
    if trusted_device:
        return SignIn(user.id if verify_password(password, user.password_hash) else None)
    if user.locked_until is not None and user.locked_until > now:
        # Guessing gains nothing while paused, but the hash is still computed: answering
        # faster than for an unknown name would tell a guesser that this user exists.
        verify_password(password, unknown_user_hash())
        return SignIn(None, user.locked_until)
    if verify_password(password, user.password_hash):
        user.failed_sign_ins = 0
        user.locked_until = None
        return SignIn(user.id)
    user.failed_sign_ins += 1
    beyond = user.failed_sign_ins - FREE_ATTEMPTS
    if beyond >= 0:
        user.locked_until = now + min(_FIRST_LOCK * (2 ** min(beyond, 10)), _LONGEST_LOCK)
    return SignIn(None, user.locked_until)
