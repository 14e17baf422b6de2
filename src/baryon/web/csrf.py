"""Cross-site request forgery checks for every POST the portal accepts.

Signed-in forms carry their session's token. The sign-in form has no session yet, so it uses
a double-submit token: the same random value in a cookie and in the form. Both checks also
refuse a POST whose Origin header names another site. Comparisons are constant-time.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

FIELD = "csrf_token"
SIGN_IN_COOKIE = "baryon_sign_in"


def tokens_match(expected: str | None, submitted: str | None) -> bool:
    if not expected or not submitted:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), submitted.encode("utf-8"))


def new_sign_in_token() -> str:
    return secrets.token_urlsafe(24)


def same_origin(origin: str | None, host: str | None) -> bool:
    """A missing Origin is allowed (older browsers, curl); a different one never is."""
    if origin is None:
        return True
    if origin == "null" or not host:
        return False
    return urlsplit(origin).netloc.lower() == host.lower()
