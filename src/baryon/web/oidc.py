"""Signing in with OpenID Connect: the button's route to the provider, and the callback.

The pending sign-in's note (state, nonce, PKCE verifier; operations/oidc_sign_in.py) travels
sealed in a cookie sent only to the callback, lax so that the provider's redirect (a top-level
GET from another site) carries it, and never readable by scripts.
"""

from __future__ import annotations

import logging

from starlette.responses import RedirectResponse, Response

from baryon.operations import oidc_sign_in
from baryon.operations.oidc_sign_in import OidcProblem, OidcRefused
from baryon.web import cookies, csrf, urls
from baryon.web.http import Visit
from baryon.web.signin import _safe_next, sign_in_form

log = logging.getLogger(__name__)

PENDING_COOKIE = "baryon_oidc"

# What the person reads; the log says which check refused and why.
_REFUSED = "Signing in with {name} did not work; try again, or ask an administrator."
_NOT_CONFIGURED = "Signing in with an identity provider is not configured on this server."


def start(visit: Visit) -> Response:
    try:
        pending = oidc_sign_in.begin(
            visit.runtime,
            oidc_sign_in.redirect_uri(visit.runtime.settings, str(visit.request.base_url)),
            _safe_next(visit.query("next")),
        )
    except OidcRefused as refused:
        return _refused(visit, refused)
    response = RedirectResponse(pending.authorization_url, status_code=303)
    response.set_cookie(
        PENDING_COOKIE,
        pending.sealed,
        max_age=oidc_sign_in.PENDING_SECONDS,
        path=urls.PREFIX + "/oidc/callback",
        httponly=True,
        samesite="lax",
        secure=visit.secure,
    )
    return response


def callback(visit: Visit) -> Response:
    try:
        signed_in = oidc_sign_in.finish(
            visit.runtime,
            visit.request.cookies.get(PENDING_COOKIE),
            {key: value for key, value in visit.request.query_params.items()},
            visit.now,
            old_session_token=visit.request.cookies.get(cookies.SESSION),
        )
    except OidcRefused as refused:
        response = _refused(visit, refused)
    else:
        response = RedirectResponse(_safe_next(signed_in.next_url), status_code=303)
        response.set_cookie(
            cookies.SESSION,
            signed_in.session_token,
            path=urls.PREFIX,
            httponly=True,
            samesite="lax",
            secure=visit.secure,
        )
        response.delete_cookie(csrf.SIGN_IN_COOKIE, path=urls.PREFIX)
    # One use only: a second visit to the same callback address finds no note.
    response.delete_cookie(PENDING_COOKIE, path=urls.PREFIX + "/oidc/callback")
    return response


def _refused(visit: Visit, refused: OidcRefused) -> Response:
    log.warning("OpenID Connect sign-in refused (%s): %s", refused.problem, refused.detail)
    if refused.problem is OidcProblem.NOT_CONFIGURED:
        return sign_in_form(visit, error=_NOT_CONFIGURED, status=404)
    status = 502 if refused.problem is OidcProblem.PROVIDER else 401
    name = visit.runtime.settings.oidc_display_name or "your identity provider"
    return sign_in_form(visit, error=_REFUSED.format(name=name), status=status)
