"""Signing in to the portal with OpenID Connect: the authorization code flow with PKCE.

``begin`` makes the provider's authorization URL and a sealed note of what the browser must
come back with (state, nonce, PKCE verifier), which the front door keeps in a short-lived
cookie: any replica can finish the sign-in, and nothing is stored for abandoned attempts.
``finish`` checks the state, trades the code for tokens, checks the ID token (signature against
the provider's JWKS, issuer, audience, expiry, nonce), makes the person on first sign-in, sets
their teams from the groups claim and starts a portal session (operations/portal_sessions.py).

The requests are plain httpx (discovery, key set, token exchange: small, bounded answers);
the PKCE challenge is authlib's and the ID token checks joserfc's, both imported where they are
used, so a ``baryon`` command that never signs anyone in does not pay for them. This module
holds Baryon's rules: who the person is (issuer and subject, never a name the provider chose),
which groups become which teams.
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
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import httpx

from baryon.auth import identities
from baryon.auth.identities import UserKind
from baryon.operations import portal_sessions
from baryon.runtime import Runtime
from baryon.settings import Settings

if TYPE_CHECKING:
    from joserfc.jwk import KeySet

CALLBACK_PATH = "/portal/oidc/callback"
# A sign-in left at the provider's page longer than this must start again.
PENDING_SECONDS = 600
_HTTP_TIMEOUT = 10.0
_MAX_DOCUMENT = 1 << 20  # discovery documents, key sets and token answers are small
_CACHE_SECONDS = 600.0
# Asymmetric signatures only: an HMAC-signed token would be checked with the client secret,
# which every replica and the provider share; "none" is never accepted.
_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
# Clocks differ: a token issued by a provider whose clock is a little ahead, or checked a
# little late, is still good (authlib and most OpenID Connect libraries allow a minute too).
CLOCK_SKEW_SECONDS = 60


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
    return _read_json("GET", url)


def _read_json(
    method: str,
    url: str,
    *,
    form: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> dict[str, Any]:
    try:
        with (
            httpx.Client(timeout=_HTTP_TIMEOUT, follow_redirects=False) as client,
            client.stream(
                method, url, headers={"Accept": "application/json"}, data=form, auth=auth
            ) as answer,
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
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    try:
        # Any JSON object: joserfc checks its shape and raises for what is not a key set.
        keys = KeySet.import_key_set(_get_json(metadata["jwks_uri"]))  # type: ignore[arg-type]
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
    from authlib.common.security import generate_token
    from authlib.oauth2.rfc7636 import create_s256_code_challenge

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
    query = urlencode(
        {
            "response_type": "code",
            "client_id": config.client_id,
            "redirect_uri": callback,
            "scope": config.scopes,
            "state": note["state"],
            "nonce": note["nonce"],
            "code_challenge": create_s256_code_challenge(note["verifier"]),
            "code_challenge_method": "S256",
        }
    )
    endpoint = str(provider.metadata["authorization_endpoint"])
    url = endpoint + ("&" if "?" in endpoint else "?") + query
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
    try:
        # client_secret_basic, the token endpoint's default way to name the client.
        token = _read_json(
            "POST",
            provider.metadata["token_endpoint"],
            form={
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": str(note["verifier"]),
                "redirect_uri": str(note["callback"]),
            },
            auth=(config.client_id, config.client_secret),
        )
    except OidcRefused as refused:
        raise OidcRefused(
            OidcProblem.PROVIDER, f"the code was not accepted: {refused.detail}"
        ) from refused
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
    """The ID token's claims once its signature, issuer, audience, nonce and expiry hold
    (OpenID Connect Core 3.1.3.7), with CLOCK_SKEW_SECONDS of leeway on the times.

    Each check looks at its own claim only, in that order, so a refusal names the check that
    failed rather than whichever claim a single pass over the token happened to reach first."""
    from joserfc import jwt
    from joserfc.errors import BadSignatureError, InvalidKeyIdError, JoseError

    try:
        try:
            token = jwt.decode(id_token, keys, algorithms=_ALGORITHMS)
        except (BadSignatureError, InvalidKeyIdError):
            if not fetch_keys:
                raise
            # The provider may have rotated its keys since they were fetched: once more.
            keys = _provider(config.issuer, fresh=True).keys
            token = jwt.decode(id_token, keys, algorithms=_ALGORITHMS)
    except (JoseError, ValueError, TypeError) as exc:
        raise OidcRefused(OidcProblem.SIGNATURE, "the ID token's signature does not hold") from exc
    claims = dict(token.claims)
    if not isinstance(claims.get("nonce", ""), str):  # a list holding the nonce is no match
        raise OidcRefused(OidcProblem.NONCE, "the nonce is not a string")
    checks: list[tuple[str, OidcProblem, dict[str, Any]]] = [
        ("iss", OidcProblem.ISSUER, {"essential": True, "value": config.issuer}),
        ("aud", OidcProblem.AUDIENCE, {"essential": True, "value": config.client_id}),
        ("nonce", OidcProblem.NONCE, {"essential": True, "value": nonce}),
        ("exp", OidcProblem.EXPIRED, {"essential": True}),
        ("iat", OidcProblem.CLAIMS, {"essential": True}),
        ("sub", OidcProblem.CLAIMS, {"essential": True}),
    ]
    for name, problem, option in checks:
        _check_claim(claims, name, problem, option, int(now.timestamp()))
        if name == "aud":
            _check_authorized_party(config, claims)
    return claims


def _check_claim(
    claims: Mapping[str, Any], name: str, problem: OidcProblem, option: Any, now: int
) -> None:
    from joserfc.errors import ClaimError, ExpiredTokenError
    from joserfc.jwt import JWTClaimsRegistry

    registry = JWTClaimsRegistry(now=now, leeway=CLOCK_SKEW_SECONDS, **{name: option})
    try:
        # Only this claim: the registry checks every time claim it is shown.
        registry.validate({name: claims[name]} if name in claims else {})
    except ExpiredTokenError as exc:
        raise OidcRefused(OidcProblem.EXPIRED, "the ID token has expired") from exc
    except ClaimError as exc:
        raise OidcRefused(problem, exc.description) from exc


def _check_authorized_party(config: OidcConfig, claims: Mapping[str, Any]) -> None:
    """A token for several audiences must name Baryon as the party it was issued to."""
    audience, party = claims.get("aud"), claims.get("azp")
    if isinstance(audience, list) and len(audience) > 1 and party is None:
        raise OidcRefused(OidcProblem.AUDIENCE, "azp: missing for a token of several audiences")
    if party is not None and party != config.client_id:
        raise OidcRefused(OidcProblem.AUDIENCE, "azp: the token was issued to another client")


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
