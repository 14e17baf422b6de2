"""Signing in and out."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from urllib.parse import urlsplit

from starlette.responses import RedirectResponse, Response

from baryon.operations import portal_sessions, trusted_devices
from baryon.operations.portal_sign_in import SignInOutcome, SignInResult, sign_in
from baryon.web import cookies, csrf, urls
from baryon.web.http import Visit, check_sign_in_form

# The same words whether the user exists, the password is wrong or the user is paused:
# anything else would tell a guesser which names are real.
_REFUSED = (
    "That user name and password do not match. After several wrong passwords, sign-in for "
    "a user pauses for a few minutes, except in a browser where that user has signed in before."
)
_LOCAL_OFF = "Sign-in with a user name and password is turned off; use the button above."
_TOO_MANY_NAMES = "Too many failed sign-ins from this address; wait a few minutes."

# Distinct user names that may fail from one address in the window before it must wait.
NAMES_PER_ADDRESS = 20


class _Throttle:
    """User names that failed to sign in from each client address, in this process.

    One user's password guessed many times is the per-user pause's business
    (operations/portal_users.py, in the database). This catches the other attack, one password
    tried on many names from one place, by counting distinct names rather than failures: many
    people behind one address (all of embedded mode is 127.0.0.1) then do not lock each other
    out by mistyping. Browsers trusted for the name they sign in as
    (operations/trusted_devices.py) are neither counted nor held back. It stays per process: a
    spray through N replicas gets N times the names, which the
    per-user pause, shared by all, still bounds per account.
    """

    def __init__(
        self, limit: int = NAMES_PER_ADDRESS, window_seconds: float = 300.0, clients: int = 10_000
    ) -> None:
        self._limit, self._window, self._clients = limit, window_seconds, clients
        # client -> user name -> when it last failed; clients and names in least-recent order.
        self._failures: OrderedDict[str, OrderedDict[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> OrderedDict[str, float]:
        names = self._failures.get(client)
        if names is None:
            return OrderedDict()
        while names and next(iter(names.values())) < now - self._window:
            names.popitem(last=False)
        return names

    def allowed(self, client: str) -> bool:
        with self._lock:
            return len(self._recent(client, time.monotonic())) < self._limit

    def failed(self, client: str, name: str) -> None:
        now = time.monotonic()
        with self._lock:
            names = self._recent(client, now)
            self._failures[client] = names
            self._failures.move_to_end(client)
            names[name] = now
            names.move_to_end(name)
            while len(names) > self._limit:  # more say nothing new: the address is held
                names.popitem(last=False)
            while len(self._failures) > self._clients:  # the quietest address is forgotten
                self._failures.popitem(last=False)


_throttle = _Throttle()


def _safe_next(target: str) -> str:
    """Only a path inside the portal: never another site (no open redirect)."""
    if target.startswith(urls.PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return urls.home()


def sign_in_form(
    visit: Visit, *, error: str | None = None, name: str = "", status: int = 200
) -> Response:
    token = csrf.new_sign_in_token()
    settings = visit.runtime.settings
    oidc = bool(settings.oidc_issuer and settings.oidc_client_id)
    response = visit.page(
        "sign_in.html",
        status=status,
        error=error,
        name=name,
        sign_in_token=token,
        next_url=_safe_next(visit.query("next") or visit.form.get("next", "")),
        # The provider's button (web/oidc.py), and the password form unless turned off.
        oidc_name=(settings.oidc_display_name or urlsplit(settings.oidc_issuer).hostname or "")
        if oidc
        else None,
        local_sign_in=not (oidc and settings.oidc_only),
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
    signed_in = portal_sessions.current(
        visit.runtime, visit.request.cookies.get(cookies.SESSION), visit.now
    )
    if signed_in is not None:
        return RedirectResponse(_safe_next(visit.query("next")), status_code=303)
    return sign_in_form(visit)


def submit(visit: Visit) -> Response:
    check_sign_in_form(visit)
    settings = visit.runtime.settings
    if settings.oidc_only and settings.oidc_issuer and settings.oidc_client_id:
        return sign_in_form(visit, error=_LOCAL_OFF, status=403)
    name = visit.form.get("name", "").strip()
    password = visit.form.get("password", "")
    if not name or not password:
        return sign_in_form(
            visit, error="Enter your user name and password.", name=name, status=400
        )
    attempt = _attempt(visit, name[:64], password)
    if attempt.result is SignInResult.HELD_BACK:
        return sign_in_form(visit, error=_TOO_MANY_NAMES, name=name, status=429)
    if attempt.session_token is None or attempt.device_token is None:
        return sign_in_form(visit, error=_REFUSED, name=name, status=401)
    response = RedirectResponse(_safe_next(visit.form.get("next", "")), status_code=303)
    response.set_cookie(
        cookies.SESSION,
        attempt.session_token,
        path=urls.PREFIX,
        httponly=True,
        samesite="lax",
        secure=visit.secure,
    )
    # Sent only to the sign-in form, never readable by scripts, kept for months.
    response.set_cookie(
        cookies.DEVICE,
        attempt.device_token,
        max_age=int(trusted_devices.LIFETIME.total_seconds()),
        path=urls.sign_in(),
        httponly=True,
        samesite="strict",
        secure=visit.secure,
    )
    response.delete_cookie(csrf.SIGN_IN_COOKIE, path=urls.PREFIX)
    return response


def _attempt(visit: Visit, name: str, password: str) -> SignInOutcome:
    client = visit.request.client.host if visit.request.client else "unknown"
    outcome = sign_in(
        visit.runtime,
        name,
        password,
        visit.now,
        device_token=visit.request.cookies.get(cookies.DEVICE),
        old_session_token=visit.request.cookies.get(cookies.SESSION),
        may_try=lambda: _throttle.allowed(client),
    )
    if outcome.result is SignInResult.REFUSED and not outcome.trusted_browser:
        _throttle.failed(client, name)
    return outcome


def sign_out(visit: Visit) -> Response:
    portal_sessions.sign_out(visit.runtime, visit.request.cookies.get(cookies.SESSION))
    response = RedirectResponse(urls.sign_in(), status_code=303)
    response.delete_cookie(cookies.SESSION, path=urls.PREFIX)
    return response
