"""The ID token checks of OpenID Connect sign-in (operations/oidc_sign_in.py): tokens signed
here with a key of the test's own stand in for a provider's, so each check can be broken alone;
and the callback refuses a state it did not send, or no pending sign-in at all, through the
portal against the real provider (tests/support/oidc/)."""

from __future__ import annotations

import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from baryon.app import create_app
from baryon.operations.oidc_sign_in import (
    CLOCK_SKEW_SECONDS,
    OidcConfig,
    OidcProblem,
    OidcRefused,
    check_id_token,
    parse_team_map,
    teams_for,
)
from baryon.runtime import Runtime, build_runtime
from baryon.settings import load_settings
from tests.support.oidc_provider import OidcProvider, oidc_provider  # noqa: F401

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

ISSUER, CLIENT = "https://id.example.test", "baryon"
CONFIG = OidcConfig(ISSUER, CLIENT, "the client secret", "openid", "groups", {}, "Example")
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
OTHER = RSAKey.generate_key(2048, parameters={"kid": "k1"})
KEYS = KeySet([RSAKey.import_key(KEY.as_dict(private=False))])


def _token(key: Any = KEY, alg: str = "RS256", **changes: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": CLIENT, "sub": "u1", "nonce": "n1", "iat": now}
    claims["exp"] = now + 300
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": alg, "kid": "k1"}, claims, key, algorithms=[alg])


def _now() -> datetime:
    # The moment of the check, not of the module's import: under xdist on a loaded machine a
    # file's tests may run minutes after it was collected.
    return datetime.now(UTC)


def test_a_good_token_gives_its_claims() -> None:
    assert check_id_token(CONFIG, KEYS, _token(), "n1", _now())["sub"] == "u1"


def test_a_token_from_a_clock_a_little_ahead_is_good() -> None:
    ahead = int(time.time()) + CLOCK_SKEW_SECONDS // 2
    assert check_id_token(CONFIG, KEYS, _token(iat=ahead), "n1", _now())["sub"] == "u1"


@pytest.mark.parametrize(
    ("token", "nonce", "problem"),
    [
        (lambda: _token(), "another nonce", OidcProblem.NONCE),
        (lambda: _token(nonce=None), "n1", OidcProblem.NONCE),
        (lambda: _token(aud="someone-else"), "n1", OidcProblem.AUDIENCE),
        (lambda: _token(iss="https://evil.example.test"), "n1", OidcProblem.ISSUER),
        (lambda: _token(exp=int(time.time()) - 3600), "n1", OidcProblem.EXPIRED),
        (lambda: _token(iat=int(time.time()) + 3600), "n1", OidcProblem.CLAIMS),
        (lambda: _token(iat=int(time.time()) + 3600), "another nonce", OidcProblem.NONCE),
        (lambda: _token(nonce=["n1"]), "n1", OidcProblem.NONCE),
        (lambda: _token(azp="someone-else"), "n1", OidcProblem.AUDIENCE),
        (lambda: _token(aud=[CLIENT, "someone-else"]), "n1", OidcProblem.AUDIENCE),
        (lambda: _token(sub=None), "n1", OidcProblem.CLAIMS),
        (lambda: _token(key=OTHER), "n1", OidcProblem.SIGNATURE),
        (
            lambda: _token(key=OctKey.import_key(CONFIG.client_secret), alg="HS256"),
            "n1",
            OidcProblem.SIGNATURE,
        ),
        (lambda: _token() + "x", "n1", OidcProblem.SIGNATURE),
        (lambda: "not a token", "n1", OidcProblem.SIGNATURE),
    ],
    ids=[
        "wrong-nonce",
        "no-nonce",
        "wrong-audience",
        "wrong-issuer",
        "expired",
        "issued-in-the-future",
        "wrong-nonce-and-issued-in-the-future",
        "nonce-in-a-list",
        "issued-to-another-party",
        "several-audiences-and-no-party",
        "no-subject",
        "another-key",
        "hmac-with-secret",
        "changed-signature",
        "garbage",
    ],
)
def test_a_bad_token_is_refused_naming_the_check(token: Any, nonce: str, problem: str) -> None:
    with pytest.raises(OidcRefused) as refused:
        check_id_token(CONFIG, KEYS, token(), nonce, _now())
    assert refused.value.problem is problem


def test_groups_map_to_teams_by_the_map_or_by_name() -> None:
    config = OidcConfig(
        ISSUER, CLIENT, "", "openid", "groups", parse_team_map(" a=x, b = y ,bad"), "E"
    )
    assert config.team_map == {"a": "x", "b": "y"}
    assert teams_for(config, ["a", "payments", "other"], {"payments"}) == {"x", "payments"}


@pytest.fixture
def portal(oidc_provider: OidcProvider, tmp_path: Path) -> Iterator[tuple[Runtime, Any]]:  # noqa: F811
    settings = load_settings(
        {
            "data_dir": tmp_path,
            "oidc_issuer": oidc_provider.issuer,
            "oidc_client_id": oidc_provider.client_id,
            "oidc_client_secret": oidc_provider.client_secret,
        },
        environ={},
    )
    runtime = build_runtime(settings)
    try:
        with TestClient(create_app(runtime), base_url="http://127.0.0.1:8080") as client:
            yield runtime, client
    finally:
        runtime.close()


def test_the_sign_in_page_offers_the_provider(portal: tuple[Runtime, Any]) -> None:
    _, client = portal
    page = client.get("/portal/sign-in")
    assert "Sign in with 127.0.0.1" in page.text and 'name="password"' in page.text


def test_the_start_sends_the_browser_to_the_provider_with_pkce(
    portal: tuple[Runtime, Any],
    oidc_provider: OidcProvider,  # noqa: F811
) -> None:
    _, client = portal
    started = client.get("/portal/oidc/start", follow_redirects=False)
    assert started.status_code == 303
    target = started.headers["location"]
    assert target.startswith(oidc_provider.issuer)
    for part in ("code_challenge_method=S256", "nonce=", "state=", "client_id=baryon-portal"):
        assert part in target
    assert "redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fportal%2Foidc%2Fcallback" in target


@pytest.mark.parametrize("start", [True, False], ids=["wrong-state", "never-started"])
def test_a_callback_with_a_state_it_did_not_send_signs_nobody_in(
    portal: tuple[Runtime, Any], start: bool
) -> None:
    _, client = portal
    if start:
        client.get("/portal/oidc/start", follow_redirects=False)
    answer = client.get(
        "/portal/oidc/callback", params={"code": "x", "state": "forged"}, follow_redirects=False
    )
    assert answer.status_code == 401 and "did not work" in answer.text
    assert client.get("/portal/", follow_redirects=False).status_code in (302, 303)


def test_starting_baryon_loads_no_sign_in_library() -> None:
    # authlib and joserfc load when someone signs in, not with every `baryon` command.
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, baryon.cli.main, baryon.app; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('authlib', 'joserfc')))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"
