"""Signing in to the portal: a password checked against the user's pause or the browser's
trust, and on success a new session and the browser's trust token, in one transaction.

The front door keeps the cookies and its per-address throttle; this module keeps the rules
that live in the database (operations/portal_users.py, trusted_devices.py, portal_sessions.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from baryon.operations import portal_sessions, portal_users, trusted_devices
from baryon.runtime import Runtime


class SignInResult(Enum):
    SIGNED_IN = "signed in"
    REFUSED = "refused"  # a wrong password, an unknown user, or a paused one: never said which
    HELD_BACK = "held back"  # the front door's throttle said no before the password was tried


@dataclass(frozen=True)
class SignInOutcome:
    result: SignInResult
    # The browser was trusted for this user: its own failures are counted on it, so the front
    # door's throttle neither counts nor holds back the attempt.
    trusted_browser: bool = False
    session_token: str | None = None
    device_token: str | None = None


def sign_in(
    runtime: Runtime,
    name: str,
    password: str,
    now: datetime,
    *,
    device_token: str | None,
    old_session_token: str | None,
    may_try: Callable[[], bool],
) -> SignInOutcome:
    """``may_try`` is asked, once the browser is known not to be trusted, whether an attempt
    from it may go ahead at all."""
    with runtime.db.session(write=True) as session:
        device = trusted_devices.find(session, device_token, name, now)
        trusted = device is not None
        if not trusted and not may_try():
            return SignInOutcome(SignInResult.HELD_BACK)
        checked = portal_users.sign_in(session, name, password, now, trusted_device=trusted)
        if checked.user_id is None:
            if device is not None:
                trusted_devices.failed(device)
            return SignInOutcome(SignInResult.REFUSED, trusted)
        # A fresh token for every sign-in; one planted beforehand is worth nothing.
        portal_sessions.end_session(session, old_session_token)
        return SignInOutcome(
            SignInResult.SIGNED_IN,
            trusted,
            session_token=portal_sessions.start_session(session, checked.user_id, now),
            device_token=trusted_devices.signed_in(
                session, device, device_token, checked.user_id, now
            ),
        )
