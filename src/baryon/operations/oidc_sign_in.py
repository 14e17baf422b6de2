"""Signing in to the portal with OpenID Connect: the authorization code flow with PKCE.

``begin`` makes the provider's authorization URL and a sealed note of what the browser must
come back with (state, nonce, PKCE verifier), which the front door keeps in a short-lived
cookie: any replica can finish the sign-in, and nothing is stored for abandoned attempts.
``finish`` checks the state, trades the code for tokens, checks the ID token (signature against
the provider's JWKS, issuer, audience, expiry, nonce), makes the person on first sign-in, sets
their teams from the groups claim and starts a portal session (operations/portal_sessions.py).

The protocol is authlib's; this module holds Baryon's rules: who the person is (issuer and
subject, never a name the provider chose), which groups become which teams.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from authlib.jose import JsonWebKey, JsonWebToken, KeySet
from authlib.jose.errors import (
    BadSignatureError,
    DecodeError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidTokenError,
    JoseError,
    MissingClaimError,
    UnsupportedAlgorithmError,
)
from authlib.oidc.core import CodeIDToken
from joserfc import errors as joserfc_errors

from baryon.auth import identities
from baryon.auth.identities import UserKind
from baryon.operations import portal_sessions
from baryon.runtime import Runtime
from baryon.settings import Settings

CALLBACK_PATH = "/portal/oidc/callback"
# A sign-in left at the provider's page longer than this must start again.
PENDING_SECONDS = 600
_HTTP_TIMEOUT = 10.0
_MAX_DOCUMENT = 1 << 20  # discovery documents, key sets and token answers are small
_CACHE_SECONDS = 600.0
# Asymmetric signatures only: an HMAC-signed token would be checked with the client secret,
# which every replica and the provider share; "none" is never accepted.
_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]


class OidcProblem(StrEnum):
    NOT_CONFIGURED = "not configured"
    STATE = "state"  # no pending sign-in, a different one, or one too old
    PROVIDER = "provider"  # unreachable, or an error answer (the user cancelled, ...)
    SIGNATURE = "signature"
    ISSUER = "issuer"
    AUDIENCE = "audience"
    EXPIRED = "expired"
    NONCE = "nonce"
    CLAIMS = "claims"  # another claim missing or wrong


class OidcRefused(Exception):
    """The sign-in cannot go on; ``problem`` says which check refused it."""

    def __init__(self, problem: OidcProblem, detail: str) -> None:
        super().__init__(f"{problem}: {detail}")
        self.problem = problem
        self.detail = detail


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str
    scopes: str
    groups_claim: str
    team_map: Mapping[str, str]
    display_name: str

    @classmethod
    def from_settings(cls, settings: Settings) -> OidcConfig | None:
        if not (settings.oidc_issuer and settings.oidc_client_id):
            return None
        return cls(
            issuer=settings.oidc_issuer.rstrip("/"),
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret,
            scopes=settings.oidc_scopes,
            groups_claim=settings.oidc_groups_claim,
            team_map=parse_team_map(settings.oidc_team_map),
            display_name=settings.oidc_display_name
            or urlsplit(settings.oidc_issuer).hostname
            or settings.oidc_issuer,
        )


def parse_team_map(text: str) -> dict[str, str]:
    """``"platform-engineers=platform, devs=payments"`` -> {group: team}."""
    pairs = (item.partition("=") for item in text.split(",") if item.strip())
    return {group.strip(): team.strip() for group, _, team in pairs if group.strip() and team}


def teams_for(config: OidcConfig, groups: list[str], existing_teams: set[str]) -> set[str]:
    """The teams a person's groups make them a member of."""
    teams = set()
    for group in groups:
        if group in config.team_map:
            teams.add(config.team_map[group])
        elif group in existing_teams:
            teams.add(group)
    return teams


@dataclass(frozen=True)
class Pending:
    """What ``begin`` hands the front door: where to send the browser, and the sealed note
    to keep in a cookie until it comes back."""

    authorization_url: str
    sealed: str


@dataclass(frozen=True)
class SignedIn:
    user_name: str
    session_token: str
    next_url: str


# --- the provider's documents, fetched once in a while ----------------------------------------


@dataclass(frozen=True)
class _Provider:
    metadata: dict[str, Any]
    keys: KeySet
    fetched: float


_providers: dict[str, _Provider] = {}
_providers_lock = threading.Lock()


def _get_json(url: str) -> dict[str, Any]:
    try:
        with (
            httpx.Client(timeout=_HTTP_TIMEOUT, follow_redirects=False) as client,
            client.stream("GET", url, headers={"Accept": "application/json"}) as answer,
        ):
            answer.raise_for_status()
            body = b""
            for chunk in answer.iter_bytes():
                body += chunk
                if len(body) > _MAX_DOCUMENT:
                    raise OidcRefused(OidcProblem.PROVIDER, f"{url} answered too much")
        document = json.loads(body)
    except (httpx.HTTPError, ValueError) as exc:
        raise OidcRefused(OidcProblem.PROVIDER, f"cannot read {url}: {exc}") from exc
    if not isinstance(document, dict):
        raise OidcRefused(OidcProblem.PROVIDER, f"{url} is not a JSON object")
    return document


def _provider(issuer: str, *, fresh: bool = False) -> _Provider:
    with _providers_lock:
        known = _providers.get(issuer)
    if known is not None and not fresh and time.monotonic() - known.fetched < _CACHE_SECONDS:
        return known
    metadata = _get_json(issuer + "/.well-known/openid-configuration")
    if str(metadata.get("issuer", "")).rstrip("/") != issuer:
        raise OidcRefused(
            OidcProblem.ISSUER, f"the discovery document names issuer {metadata.get('issuer')!r}"
        )
    for needed in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(metadata.get(needed), str):
            raise OidcRefused(OidcProblem.PROVIDER, f"the discovery document has no {needed}")
    try:
        keys = JsonWebKey.import_key_set(_get_json(metadata["jwks_uri"]))
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise OidcRefused(OidcProblem.PROVIDER, f"unreadable key set: {exc}") from exc
    found = _Provider(metadata, keys, time.monotonic())
    with _providers_lock:
        _providers[issuer] = found
    return found


# --- the flow -------------------------------------------------------------------------------


def redirect_uri(settings: Settings, request_base_url: str) -> str:
    """The callback address the provider sends the browser back to (register it there)."""
    return (settings.public_url or request_base_url).rstrip("/") + CALLBACK_PATH


def begin(runtime: Runtime, callback: str, next_url: str) -> Pending:
    config = _config(runtime)
    provider = _provider(config.issuer)
    note = {
        "state": generate_token(32),
        "nonce": generate_token(32),
        "verifier": generate_token(64),
        "next": next_url,
        "at": time.time(),
        "callback": callback,
    }
    client = _client(config, callback)
    url, _ = client.create_authorization_url(
        provider.metadata["authorization_endpoint"],
        state=note["state"],
        nonce=note["nonce"],
        code_verifier=note["verifier"],
    )
    return Pending(url, runtime.box.seal(json.dumps(note)).decode())


def finish(
    runtime: Runtime,
    sealed: str | None,
    query: Mapping[str, str],
    now: datetime,
    *,
    old_session_token: str | None,
) -> SignedIn:
    """Checks everything the provider and the browser brought back; raises OidcRefused."""
    config = _config(runtime)
    note = _open_note(runtime, sealed)
    if not hmac.compare_digest(str(note["state"]), query.get("state", "")):
        raise OidcRefused(OidcProblem.STATE, "the state is not the one this browser was sent with")
    if "error" in query:
        raise OidcRefused(OidcProblem.PROVIDER, f"the provider said {query['error'][:200]!r}")
    code = query.get("code", "")
    if not code or len(code) > 4096:
        raise OidcRefused(OidcProblem.PROVIDER, "no authorization code came back")
    provider = _provider(config.issuer)
    client = _client(config, note["callback"])
    try:
        token = client.fetch_token(
            provider.metadata["token_endpoint"],
            code=code,
            code_verifier=note["verifier"],
            redirect_uri=note["callback"],
        )
    except Exception as exc:  # authlib raises its OAuthError, httpx its own: both mean "no"
        raise OidcRefused(OidcProblem.PROVIDER, f"the code was not accepted: {exc}") from exc
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise OidcRefused(OidcProblem.PROVIDER, "the provider sent no ID token")
    claims = check_id_token(
        config, provider.keys, id_token, str(note["nonce"]), now, fetch_keys=True
    )
    return _sign_in(runtime, config, claims, now, str(note["next"]), old_session_token)


def check_id_token(
    config: OidcConfig,
    keys: KeySet,
    id_token: str,
    nonce: str,
    now: datetime,
    *,
    fetch_keys: bool = False,
) -> dict[str, Any]:
    """The ID token's claims once its signature, issuer, audience, expiry and nonce hold."""
    jwt = JsonWebToken(_ALGORITHMS)
    try:
        try:
            claims = jwt.decode(
                id_token,
                keys,
                claims_cls=CodeIDToken,
                claims_options={"iss": {"essential": True, "value": config.issuer}},
                claims_params={"nonce": nonce, "client_id": config.client_id},
            )
        except (ValueError, BadSignatureError):
            if not fetch_keys:
                raise
            # The provider may have rotated its keys since they were fetched: once more.
            keys = _provider(config.issuer, fresh=True).keys
            claims = jwt.decode(
                id_token,
                keys,
                claims_cls=CodeIDToken,
                claims_options={"iss": {"essential": True, "value": config.issuer}},
                claims_params={"nonce": nonce, "client_id": config.client_id},
            )
        claims.validate(now=int(now.timestamp()), leeway=60)
    # authlib checks claims with joserfc's errors (authlib 1.6 on) or its own (before).
    except (ExpiredTokenError, joserfc_errors.ExpiredTokenError) as exc:
        raise OidcRefused(OidcProblem.EXPIRED, "the ID token has expired") from exc
    except (
        InvalidClaimError,
        MissingClaimError,
        joserfc_errors.InvalidClaimError,
        joserfc_errors.MissingClaimError,
    ) as exc:
        claim = getattr(exc, "claim", None) or getattr(exc, "claim_name", None)
        problem = {
            "iss": OidcProblem.ISSUER,
            "aud": OidcProblem.AUDIENCE,
            "azp": OidcProblem.AUDIENCE,
            "nonce": OidcProblem.NONCE,
        }.get(str(claim), OidcProblem.CLAIMS)
        raise OidcRefused(problem, str(getattr(exc, "description", "") or exc)) from exc
    except (BadSignatureError, DecodeError, UnsupportedAlgorithmError, ValueError) as exc:
        raise OidcRefused(OidcProblem.SIGNATURE, "the ID token's signature does not hold") from exc
    except (InvalidTokenError, JoseError, joserfc_errors.JoseError) as exc:
        raise OidcRefused(OidcProblem.CLAIMS, str(exc)) from exc
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise OidcRefused(OidcProblem.CLAIMS, "the ID token names no subject")
    return dict(claims)


def _sign_in(
    runtime: Runtime,
    config: OidcConfig,
    claims: Mapping[str, Any],
    now: datetime,
    next_url: str,
    old_session_token: str | None,
) -> SignedIn:
    subject = str(claims["sub"])[:255]
    raw_groups = claims.get(config.groups_claim) or []
    groups = (
        [g for g in raw_groups if isinstance(g, str)][:500] if isinstance(raw_groups, list) else []
    )
    with runtime.identity_db.session(write=True) as session:
        known = identities.oidc_user(session, config.issuer, subject)
        if known is None:
            wanted = _text(claims, "preferred_username") or _text(claims, "email") or subject
            name = identities.free_user_name(session, wanted)
            uid = identities.create_user(
                session,
                name,
                UserKind.PERSON,
                now,
                display_name=_text(claims, "name"),
                email=_text(claims, "email"),
                oidc=(config.issuer, subject),
                # Roles come from teams: the first person through a provider open to anyone
                # must not become an admin.
                roles=(),
            )
        else:
            uid, name = known
        existing = {team.name for team in identities.list_teams(session)}
        identities.set_sign_in_teams(session, uid, teams_for(config, groups, existing), now)
        # A fresh token for every sign-in; one planted beforehand is worth nothing.
        portal_sessions.end_session(session, old_session_token)
        token = portal_sessions.start_session(session, uid, now)
    return SignedIn(name, token, next_url)


def _text(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) and value else None


def _config(runtime: Runtime) -> OidcConfig:
    config = OidcConfig.from_settings(runtime.settings)
    if config is None:
        raise OidcRefused(OidcProblem.NOT_CONFIGURED, "OpenID Connect sign-in is not configured")
    return config


def _client(config: OidcConfig, callback: str) -> OAuth2Client:
    return OAuth2Client(
        client_id=config.client_id,
        client_secret=config.client_secret,
        scope=config.scopes,
        redirect_uri=callback,
        code_challenge_method="S256",
        timeout=_HTTP_TIMEOUT,
    )


def _open_note(runtime: Runtime, sealed: str | None) -> dict[str, Any]:
    if not sealed or len(sealed) > 8192:
        raise OidcRefused(OidcProblem.STATE, "no sign-in was started in this browser")
    try:
        note = json.loads(runtime.box.open(sealed.encode()))
    except Exception as exc:  # a cookie that is not ours, whatever is wrong with it
        raise OidcRefused(OidcProblem.STATE, "the sign-in note is unreadable") from exc
    if not isinstance(note, dict) or time.time() - float(note.get("at", 0)) > PENDING_SECONDS:
        raise OidcRefused(OidcProblem.STATE, "the sign-in took too long; start again")
    return note
