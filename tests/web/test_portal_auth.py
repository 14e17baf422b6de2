"""Signing in, the session cookie, CSRF on every POST, and what a stranger sees."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from baryon.operations.portal_users import FREE_ATTEMPTS
from baryon.store.tables import Environment, Job
from baryon.web import signin
from tests.web.conftest import CSRF, PASSWORD, ROLE, USER, Portal

ENV_FORM = {"mode": "form", "name": "dev", "description": "", "input-vpc_cidr": "10.0.0.0/16",
            "input-size": "small", "role": ROLE}
ENV_URL = "/portal/new/environment?template=network&version=1.0"


def _count(portal: Portal, model: type) -> int:
    with portal.runtime.db.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_pages_need_a_session(portal: Portal) -> None:
    response = portal.client.get("/portal/fleet", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/portal/sign-in?next=%2Fportal%2Ffleet"
    fragment = portal.client.get("/portal/live/fleet", follow_redirects=False)
    assert fragment.status_code == 401
    assert portal.client.get("/", follow_redirects=False).headers["location"] == "/portal/"


def test_signing_in_sets_a_protected_session_cookie(portal: Portal) -> None:
    response = portal.sign_in()
    assert response.status_code == 303 and response.headers["location"] == "/portal/"
    cookie = next(c for c in response.headers.get_list("set-cookie")
                  if c.startswith("baryon_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/portal" in cookie
    assert "Secure" not in cookie  # plain http on a laptop; https below
    page = portal.client.get("/portal/")
    assert page.status_code == 200 and f"Signed in as <strong>{USER}</strong>" in page.text


def test_over_https_the_cookie_is_secure(runtime) -> None:  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    from baryon.app import create_app

    with TestClient(create_app(runtime), base_url="https://portal.test") as client:
        response = Portal(runtime, client).sign_in()
    cookie = next(c for c in response.headers.get_list("set-cookie")
                  if c.startswith("baryon_session="))
    assert "Secure" in cookie


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(portal: Portal) -> None:
    for name in (USER, "nobody"):
        form = portal.client.get("/portal/sign-in")
        token = CSRF.search(form.text).group(1)
        response = portal.client.post("/portal/sign-in", data={
            "csrf_token": token, "name": name, "password": "wrong password"})
        assert response.status_code == 401
        assert "That user name and password do not match." in response.text
        assert "baryon_session" not in response.headers.get("set-cookie", "")


def test_a_paused_user_is_refused_in_the_same_words_as_an_unknown_one(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fresh per-address throttle: this test's failures must not spill into others.
    monkeypatch.setattr(signin, "_throttle", signin._Throttle())

    def attempt(name: str, password: str) -> tuple[int, str]:
        form = portal.client.get("/portal/sign-in")
        token = CSRF.search(form.text).group(1)
        response = portal.client.post("/portal/sign-in", data={
            "csrf_token": token, "name": name, "password": password})
        error = re.search(r'role="alert".*?<p>(.*?)</p>', response.text, re.S)
        assert error, response.text
        return response.status_code, error.group(1)

    for _ in range(FREE_ATTEMPTS + 1):
        attempt(USER, "wrong password")
    paused = attempt(USER, PASSWORD)  # the right password, while paused
    unknown = attempt("nobody", PASSWORD)
    assert paused[0] == unknown[0] == 401
    assert paused[1] == unknown[1]
    assert "baryon_session" not in portal.client.cookies


def test_the_sign_in_form_needs_its_own_token(portal: Portal) -> None:
    portal.client.get("/portal/sign-in")
    response = portal.client.post("/portal/sign-in", data={
        "csrf_token": "made-up", "name": USER, "password": PASSWORD})
    assert response.status_code == 403


def test_sign_in_only_redirects_inside_the_portal(portal: Portal) -> None:
    form = portal.client.get("/portal/sign-in")
    token = CSRF.search(form.text).group(1)
    response = portal.client.post("/portal/sign-in", data={
        "csrf_token": token, "name": USER, "password": PASSWORD,
        "next": "https://elsewhere.example/steal"}, follow_redirects=False)
    assert response.headers["location"] == "/portal/"


def test_a_post_without_the_sessions_token_changes_nothing(signed_in: Portal) -> None:
    client = signed_in.client
    for token in (None, "wrong-token"):
        data = dict(ENV_FORM) if token is None else {"csrf_token": token, **ENV_FORM}
        response = client.post(ENV_URL, data=data, follow_redirects=False)
        assert response.status_code == 403
        assert "Form expired" in response.text
    assert _count(signed_in, Environment) == 0 and _count(signed_in, Job) == 0


def test_a_post_from_another_origin_is_refused(signed_in: Portal) -> None:
    response = signed_in.post(ENV_URL, ENV_FORM, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert _count(signed_in, Environment) == 0


def test_signing_out_ends_the_session(signed_in: Portal) -> None:
    cookie = signed_in.client.cookies.get("baryon_session")
    response = signed_in.post("/portal/sign-out")
    assert response.status_code == 303
    signed_in.client.cookies.set("baryon_session", cookie, path="/portal")
    again = signed_in.client.get("/portal/", follow_redirects=False)
    assert again.status_code == 303 and "sign-in" in again.headers["location"]


def test_pages_carry_security_headers(signed_in: Portal) -> None:
    response = signed_in.client.get("/portal/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert not re.search(r"<script>[^<]", response.text)  # no inline script
