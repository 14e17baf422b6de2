"""Sign-in throttling as a guesser meets it: one user's wrong passwords pause only that user,
and not in a browser where the user signed in before; many names tried from one address slow
that address; and X-Forwarded-For from an untrusted peer moves nothing."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from baryon.app import create_app
from baryon.operations.portal_users import FREE_ATTEMPTS, create_user
from baryon.runtime import Runtime
from baryon.web import signin
from tests.support.processes import start_baryon
from tests.web.conftest import CSRF, PASSWORD, USER

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

OTHER, OTHER_PASSWORD = "kim", "another long enough password"
WRONG = "not the password"
ERROR = re.compile(r'role="alert".*?<p>(.*?)</p>', re.S)


@pytest.fixture(autouse=True)
def fresh_throttle(monkeypatch: pytest.MonkeyPatch) -> signin._Throttle:
    # The address throttle lives in the process: each test starts from a clean one, and a
    # small limit keeps the tests short (scrypt runs for every attempt).
    throttle = signin._Throttle(limit=3)
    monkeypatch.setattr(signin, "_throttle", throttle)
    return throttle


@contextmanager
def browser(runtime: Runtime, address: str = "127.0.0.1") -> Iterator[Any]:
    """A browser of its own (its own cookies) connecting from ``address``."""
    with TestClient(
        create_app(runtime), base_url="http://portal.test", client=(address, 50000)
    ) as client:
        yield client


def attempt(client: Any, name: str, password: str, **headers: str) -> Any:
    form = client.get("/portal/sign-in")
    token = CSRF.search(form.text).group(1)
    return client.post(
        "/portal/sign-in",
        data={"csrf_token": token, "name": name, "password": password, "next": "/portal/"},
        headers=headers,
        follow_redirects=False,
    )


def sign_in_and_out(client: Any, name: str, password: str) -> None:
    """Leaves the browser signed out, as it would be a while later, with what it keeps."""
    assert attempt(client, name, password).status_code == 303
    token = CSRF.search(client.get("/portal/").text).group(1)
    assert client.post("/portal/sign-out", data={"csrf_token": token}).status_code == 200


@pytest.fixture
def two_users(runtime: Runtime) -> Runtime:
    with runtime.db.session(write=True) as session:
        create_user(session, OTHER, OTHER_PASSWORD, datetime.now(UTC))
    return runtime


def test_wrong_passwords_for_one_user_do_not_stop_another_user_at_the_same_address(
    two_users: Runtime,
) -> None:
    with browser(two_users) as guesser, browser(two_users) as colleague:
        for _ in range(FREE_ATTEMPTS + 3):
            assert attempt(guesser, USER, WRONG).status_code == 401
        assert attempt(colleague, OTHER, OTHER_PASSWORD).status_code == 303


def test_many_user_names_tried_from_one_address_slow_that_address_down(
    two_users: Runtime,
) -> None:
    with browser(two_users) as sprayer, browser(two_users, "10.0.0.9") as elsewhere:
        for name in ("alpha", "bravo", "charlie"):
            assert attempt(sprayer, name, WRONG).status_code == 401
        refused = attempt(sprayer, OTHER, OTHER_PASSWORD)
        assert refused.status_code == 429
        assert "Too many failed sign-ins" in ERROR.search(refused.text).group(1)
        assert attempt(elsewhere, OTHER, OTHER_PASSWORD).status_code == 303


def test_a_user_paused_by_someone_elses_guesses_still_signs_in_where_they_did_before(
    two_users: Runtime,
) -> None:
    with browser(two_users) as own, browser(two_users, "10.0.0.9") as guesser:
        sign_in_and_out(own, USER, PASSWORD)
        for _ in range(FREE_ATTEMPTS + 2):
            assert attempt(guesser, USER, WRONG).status_code == 401
        # Paused for the guesser, even with the right password...
        assert attempt(guesser, USER, PASSWORD).status_code == 401
        # ...but not in the browser the user signed in with before.
        assert attempt(own, USER, PASSWORD).status_code == 303
        # Nor does that sign-in reopen the guesser's window.
        assert attempt(guesser, USER, PASSWORD).status_code == 401


def test_a_trusted_browser_gets_only_a_few_guesses_of_its_own(two_users: Runtime) -> None:
    with browser(two_users) as own:
        sign_in_and_out(own, USER, PASSWORD)
        for _ in range(FREE_ATTEMPTS):
            assert attempt(own, USER, WRONG).status_code == 401
        # Trusted no more: its failures now count against the user like anyone's.
        for _ in range(FREE_ATTEMPTS + 1):
            assert attempt(own, USER, WRONG).status_code == 401
        assert attempt(own, USER, PASSWORD).status_code == 401


def test_a_new_password_ends_the_trust_of_every_browser(two_users: Runtime) -> None:
    from baryon.operations.portal_users import set_password

    with browser(two_users) as own, browser(two_users, "10.0.0.9") as guesser:
        sign_in_and_out(own, USER, PASSWORD)
        with two_users.db.session(write=True) as session:
            set_password(session, USER, "the new long password", datetime.now(UTC))
        for _ in range(FREE_ATTEMPTS + 1):
            attempt(guesser, USER, WRONG)
        assert attempt(own, USER, "the new long password").status_code == 401


def test_the_paused_and_the_unknown_are_still_refused_in_the_same_words(
    two_users: Runtime,
) -> None:
    with browser(two_users) as client:
        for _ in range(FREE_ATTEMPTS + 1):
            attempt(client, USER, WRONG)
        paused = attempt(client, USER, PASSWORD)
        unknown = attempt(client, "nobody", PASSWORD)
    assert paused.status_code == unknown.status_code == 401
    assert ERROR.search(paused.text).group(1) == ERROR.search(unknown.text).group(1)


# A real `baryon up`: the address the portal sees is what uvicorn decided.


def _spray_from_rotating_addresses(endpoint: str, names: int) -> list[int]:
    """One wrong password for each of ``names`` user names, each claiming another address."""
    statuses = []
    with httpx.Client(base_url=endpoint, timeout=30) as client:
        for n in range(names):
            form = client.get("/portal/sign-in")
            token = CSRF.search(form.text).group(1)
            response = client.post(
                "/portal/sign-in",
                data={"csrf_token": token, "name": f"sprayed-{n}", "password": WRONG},
                headers={"X-Forwarded-For": f"203.0.113.{n % 250 + 1}"},
            )
            statuses.append(response.status_code)
    return statuses


def test_x_forwarded_for_from_loopback_does_not_evade_the_limit_by_default(
    tmp_path: Path,
) -> None:
    baryon = start_baryon(tmp_path / "data")
    try:
        statuses = _spray_from_rotating_addresses(baryon.endpoint, signin.NAMES_PER_ADDRESS + 1)
    finally:
        baryon.stop()
    assert statuses[-1] == 429, statuses
    assert set(statuses[:-1]) == {401}


def test_a_configured_load_balancer_still_tells_the_client_address(tmp_path: Path) -> None:
    baryon = start_baryon(tmp_path / "data", env={"BARYON_FORWARDED_ALLOW_IPS": "127.0.0.1"})
    try:
        statuses = _spray_from_rotating_addresses(baryon.endpoint, signin.NAMES_PER_ADDRESS + 1)
    finally:
        baryon.stop()
    assert set(statuses) == {401}
