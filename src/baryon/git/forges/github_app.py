"""A GitHub App acting on a repository: an RS256 JWT signed with the app's private key proves
the app, which then mints an installation token for the account that installed it.

Installation tokens last an hour (GitHub's ``expires_at``); each is kept until shortly before
it expires, so a busy worker asks GitHub for one token an hour per installation, not one per
call. Which installation serves a repository is kept too: it changes only when the app is
reinstalled, and a 404 then drops it.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from baryon.git.forges.base import ForgeError
from baryon.git.forges.http import ForgeHttp

# GitHub refuses an app JWT that lives longer than 10 minutes; the issue time is set back a
# minute for clocks that run ahead of GitHub's (GitHub's own advice).
_JWT_LIFETIME = timedelta(minutes=9)
_CLOCK_SKEW = timedelta(seconds=60)
# A cached installation token is replaced this long before it expires, so that a git push
# started with it does not outlive it.
_TOKEN_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class GitHubApp:
    app_id: str  # the App ID (or Client ID) from the app's settings page
    private_key_pem: str  # the .pem GitHub generated for the app (PKCS#1 or PKCS#8)


@dataclass(frozen=True)
class InstallationToken:
    token: str
    expires_at: datetime


def app_jwt(app: GitHubApp, private_key: rsa.RSAPrivateKey, now: datetime) -> str:
    """The JSON Web Token that authenticates the app itself (``/app/...`` endpoints)."""
    header = {"alg": "RS256", "typ": "JWT"}
    claims = {
        "iat": int((now - _CLOCK_SKEW).timestamp()),
        "exp": int((now + _JWT_LIFETIME).timestamp()),
        "iss": app.app_id,
    }
    signing_input = f"{_b64(json.dumps(header))}.{_b64(json.dumps(claims))}"
    signature = private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(signature)}"


def load_private_key(app: GitHubApp) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(app.private_key_pem.encode(), password=None)
    except (ValueError, TypeError) as error:
        raise ForgeError(
            f"GitHub App {app.app_id}: the private key is not a PEM private key without a "
            f"passphrase ({error})."
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ForgeError(f"GitHub App {app.app_id}: the private key is not an RSA key.")
    return key


class InstallationTokens:
    """Installation tokens of one app, per repository, cached; safe to share between threads."""

    def __init__(
        self,
        app: GitHubApp,
        http: ForgeHttp,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._app = app
        self._key = load_private_key(app)
        self._http = http
        self._clock = clock
        self._lock = threading.Lock()
        self._installations: dict[str, int] = {}  # "owner/name" -> installation id
        self._tokens: dict[int, InstallationToken] = {}

    def token_for(self, owner: str, name: str) -> str:
        repository = f"{owner}/{name}"
        with self._lock:
            installation = self._installations.get(repository)
        if installation is None:
            found = self._http.call(
                "GET",
                f"/repos/{owner}/{name}/installation",
                subject=f"the GitHub App {self._app.app_id}'s installation on {repository}",
                headers=self._app_headers(),
            )
            installation = _installation_id(found, repository)
            with self._lock:
                self._installations[repository] = installation
        try:
            return self._token(installation, repository)
        except ForgeError as error:
            if error.status == 404:  # uninstalled or reinstalled: look it up again next time
                with self._lock:
                    self._installations.pop(repository, None)
            raise

    def only_installation_token(self) -> str:
        """The token of the app's one installation, for a caller that names no repository;
        an app installed on several accounts cannot guess which one is meant."""
        found = self._http.call(
            "GET",
            "/app/installations",
            subject=f"the GitHub App {self._app.app_id}'s installations",
            headers=self._app_headers(),
        )
        if not isinstance(found, list) or len(found) != 1:
            count = len(found) if isinstance(found, list) else "an unknown number of"
            raise ForgeError(
                f"GitHub App {self._app.app_id} is installed on {count} accounts; name the "
                "repository to choose the installation."
            )
        return self._token(_installation_id(found[0], "its only installation"), "its account")

    def _token(self, installation: int, repository: str) -> str:
        now = self._clock()
        with self._lock:
            cached = self._tokens.get(installation)
        if cached is not None and now < cached.expires_at - _TOKEN_MARGIN:
            return cached.token
        minted = self._http.call(
            "POST",
            f"/app/installations/{installation}/access_tokens",
            subject=f"an installation token of the GitHub App {self._app.app_id} for {repository}",
            headers=self._app_headers(),
            expect=(201,),
        )
        token = _installation_token(minted, self._app.app_id)
        with self._lock:
            self._tokens[installation] = token
        return token.token

    def _app_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {app_jwt(self._app, self._key, self._clock())}"}


def _installation_id(found: Any, repository: str) -> int:
    installation = found.get("id") if isinstance(found, dict) else None
    if not isinstance(installation, int) or isinstance(installation, bool):
        raise ForgeError(f"GitHub answered no installation id for {repository}.")
    return installation


def _installation_token(minted: Any, app_id: str) -> InstallationToken:
    token = minted.get("token") if isinstance(minted, dict) else None
    expires = minted.get("expires_at") if isinstance(minted, dict) else None
    if not isinstance(token, str) or not token or not isinstance(expires, str):
        raise ForgeError(f"GitHub answered no installation token for the app {app_id}.")
    try:
        expires_at = datetime.fromisoformat(expires)
    except ValueError:
        raise ForgeError(
            f"GitHub answered an installation token for the app {app_id} whose expires_at "
            f"{expires!r} is not a timestamp."
        ) from None
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    return InstallationToken(token, expires_at)


def _b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
