"""Signing in and out."""

from __future__ import annotations

import threading
import time
from collections import deque

from starlette.responses import RedirectResponse, Response

from baryon.web import csrf, urls
from baryon.web.http import Visit, check_sign_in_form
from baryon.web.sessions import COOKIE, end_session, find_session, start_session
from baryon.web.users import sign_in

# The same words whether the user exists, the password is wrong or the user is paused:
# anything else would tell a guesser which names are real.
_REFUSED = (
    "That user name and password do not match. After several wrong passwords, sign-in for "
    "a user pauses for a few minutes."
)


class _Throttle:
    """Failed sign-ins per client address, in this process: many user names tried from one
    place are slowed down too (the per-user lock in the database covers one name tried from
    many places)."""

    def __init__(self, limit: int = 20, window_seconds: float = 300.0) -> None:
        self._limit, self._window = limit, window_seconds
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(client, deque())
        while failures and failures[0] < now - self._window:
            failures.popleft()
        return failures

    def allowed(self, client: str) -> bool:
        with self._lock:
            return len(self._recent(client, time.monotonic())) < self._limit

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > 10_000:
                self._failures.clear()
            self._recent(client, now).append(now)


_throttle = _Throttle()


def _safe_next(target: str) -> str:
    """Only a path inside the portal: never another site (no open redirect)."""
    if target.startswith(urls.PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return urls.home()


def _form(visit: Visit, *, error: str | None = None, name: str = "", status: int = 200) -> Response:
    token = csrf.new_sign_in_token()
    response = visit.page(
        "sign_in.html",
        status=status,
        error=error,
        name=name,
        sign_in_token=token,
        next_url=_safe_next(visit.query("next") or visit.form.get("next", "")),
    )
    response.set_cookie(
        csrf.SIGN_IN_COOKIE,
        token,
        path=urls.PREFIX,
        httponly=True,
        samesite="strict",
        secure=visit.secure,
    )
    return response


def show(visit: Visit) -> Response:
    with visit.db.session() as session:
        signed_in = find_session(session, visit.request.cookies.get(COOKIE), visit.now)
    if signed_in is not None:
        return RedirectResponse(_safe_next(visit.query("next")), status_code=303)
    return _form(visit)


def submit(visit: Visit) -> Response:
    check_sign_in_form(visit)
    name = visit.form.get("name", "").strip()
    password = visit.form.get("password", "")
    if not name or not password:
        return _form(visit, error="Enter your user name and password.", name=name, status=400)
    client = visit.request.client.host if visit.request.client else "unknown"
    if not _throttle.allowed(client):
        return _form(
            visit,
            error="Too many failed sign-ins from this address; wait a few minutes.",
            name=name,
            status=429,
        )
    with visit.db.session(write=True) as session:
        outcome = sign_in(session, name[:64], password, visit.now)
        token = None
        if outcome.user_id is not None:
            # A fresh token for every sign-in; one planted beforehand is worth nothing.
            end_session(session, visit.request.cookies.get(COOKIE))
            token = start_session(session, outcome.user_id, visit.now)
    if token is None:
        _throttle.failed(client)
        return _form(visit, error=_REFUSED, name=name, status=401)
    response = RedirectResponse(_safe_next(visit.form.get("next", "")), status_code=303)
    response.set_cookie(
        COOKIE, token, path=urls.PREFIX, httponly=True, samesite="lax", secure=visit.secure
    )
    response.delete_cookie(csrf.SIGN_IN_COOKIE, path=urls.PREFIX)
    return response


def sign_out(visit: Visit) -> Response:
    with visit.db.session(write=True) as session:
        end_session(session, visit.request.cookies.get(COOKIE))
    response = RedirectResponse(urls.sign_in(), status_code=303)
    response.delete_cookie(COOKIE, path=urls.PREFIX)
    return response
