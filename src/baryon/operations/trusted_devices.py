"""Browsers where a user has signed in before ("device cookies", OWASP's answer to lockouts).

Wrong passwords pause a user's sign-in (operations/portal_users.py), in the database so that every
replica enforces it and a guesser spread over many addresses still gets only a few tries an hour. A
pause for everyone would let anyone who knows a user name keep that user out for good, so a browser
where the user has signed in carries a random token (only its hash is kept, as for sessions): there
the user is not paused by others' failures, and the browser's own wrong passwords are counted on it
instead; after a few it is trusted no more, so a stolen cookie buys only a few guesses.
A new password ends the trust of every browser.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from baryon.operations.portal_sessions import hash_token
from baryon.operations.portal_users import FREE_ATTEMPTS
from baryon.store.tables import TrustedDevice, User

LIFETIME = timedelta(days=90)


def find(session: Session, token: str | None, name: str, now: datetime) -> TrustedDevice | None:
    """The trusted browser that sent ``token``, if it is trusted for the user ``name``."""
    if not token or len(token) > 128:
        return None
    device = session.scalars(
        select(TrustedDevice)
        .join(User, User.id == TrustedDevice.user_id)
        .where(TrustedDevice.token_hash == hash_token(token), User.name == name)
        .with_for_update(of=TrustedDevice)
    ).first()
    if device is None or device.expires_at <= now or device.failed_sign_ins >= FREE_ATTEMPTS:
        return None
    return device


def signed_in(
    session: Session, device: TrustedDevice | None, token: str | None, user_id: int, now: datetime
) -> str:
    """After the right password: the token the browser keeps (its own, or a new one)."""
    if device is not None and token is not None:
        device.failed_sign_ins = 0
        device.expires_at = now + LIFETIME
        return token
    session.execute(delete(TrustedDevice).where(TrustedDevice.expires_at <= now))
    new_token = secrets.token_urlsafe(32)
    session.add(
        TrustedDevice(
            token_hash=hash_token(new_token),
            user_id=user_id,
            failed_sign_ins=0,
            created_at=now,
            expires_at=now + LIFETIME,
        )
    )
    return new_token


def failed(device: TrustedDevice) -> None:
    device.failed_sign_ins += 1
