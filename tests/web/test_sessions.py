"""Web sessions (hashed tokens, expiry, flash) and sign-in with its lockout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from baryon.operations import portal_sessions as sessions
from baryon.operations import portal_users as users
from baryon.runtime import Runtime
from baryon.store.tables import WebSession
from tests.web.conftest import PASSWORD, USER

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _user_id(runtime: Runtime) -> int:
    with runtime.db.session(write=True) as session:
        outcome = users.sign_in(session, USER, PASSWORD, NOW)
    assert outcome.user_id is not None
    return outcome.user_id


def test_only_a_hash_of_the_token_is_stored(runtime: Runtime) -> None:
    user_id = _user_id(runtime)
    with runtime.db.session(write=True) as session:
        token = sessions.start_session(session, user_id, NOW)
    with runtime.db.session() as session:
        row = session.scalars(select(WebSession)).one()
        assert row.token_hash == sessions.hash_token(token) != token
        found = sessions.find_session(session, token, NOW)
    assert found is not None and found.user_name == USER
    assert found.csrf_token and found.csrf_token != token


def test_unknown_and_expired_tokens_find_nothing(runtime: Runtime) -> None:
    user_id = _user_id(runtime)
    with runtime.db.session(write=True) as session:
        token = sessions.start_session(session, user_id, NOW)
    with runtime.db.session() as session:
        assert sessions.find_session(session, "not-a-token", NOW) is None
        assert sessions.find_session(session, None, NOW) is None
        assert sessions.find_session(session, token, NOW + sessions.IDLE_LIFETIME) is None


def test_use_extends_a_session_but_never_past_its_absolute_lifetime(runtime: Runtime) -> None:
    user_id = _user_id(runtime)
    with runtime.db.session(write=True) as session:
        token = sessions.start_session(session, user_id, NOW)
    later = NOW + timedelta(hours=6)
    with runtime.db.session(write=True) as session:
        found = sessions.find_session(session, token, later)
        assert found is not None and found.needs_refresh
        sessions.refresh(session, found.id, later, take_flash=False)
    with runtime.db.session() as session:
        assert sessions.find_session(session, token, NOW + timedelta(hours=17)) is not None
    end = NOW + sessions.ABSOLUTE_LIFETIME - timedelta(hours=1)
    with runtime.db.session(write=True) as session:
        row = session.scalars(select(WebSession)).one()
        row.expires_at = end + timedelta(hours=1)  # as if used every hour for a week
    with runtime.db.session(write=True) as session:
        found = sessions.find_session(session, token, end)
        assert found is not None
        sessions.refresh(session, found.id, end, take_flash=False)
    with runtime.db.session() as session:
        row = session.scalars(select(WebSession)).one()
        assert row.expires_at == NOW + sessions.ABSOLUTE_LIFETIME
        assert sessions.find_session(session, token, NOW + sessions.ABSOLUTE_LIFETIME) is None


def test_a_flash_is_shown_once(runtime: Runtime) -> None:
    user_id = _user_id(runtime)
    with runtime.db.session(write=True) as session:
        token = sessions.start_session(session, user_id, NOW)
        found = sessions.find_session(session, token, NOW)
        assert found is not None
        sessions.set_flash(session, found.id, "Started.")
    with runtime.db.session(write=True) as session:
        found = sessions.find_session(session, token, NOW)
        assert found is not None and found.flash == "Started."
        sessions.refresh(session, found.id, NOW, take_flash=True)
    with runtime.db.session() as session:
        found = sessions.find_session(session, token, NOW)
        assert found is not None and found.flash is None


def test_ending_a_session_forgets_it(runtime: Runtime) -> None:
    user_id = _user_id(runtime)
    with runtime.db.session(write=True) as session:
        token = sessions.start_session(session, user_id, NOW)
    with runtime.db.session(write=True) as session:
        sessions.end_session(session, token)
    with runtime.db.session() as session:
        assert sessions.find_session(session, token, NOW) is None


def test_wrong_passwords_lock_the_user_for_a_while(runtime: Runtime) -> None:
    for attempt in range(users.FREE_ATTEMPTS):
        with runtime.db.session(write=True) as session:
            outcome = users.sign_in(session, USER, "wrong", NOW + timedelta(seconds=attempt))
        assert outcome.user_id is None
    with runtime.db.session(write=True) as session:
        locked = users.sign_in(session, USER, PASSWORD, NOW + timedelta(seconds=10))
    assert locked.user_id is None and locked.locked_until is not None
    with runtime.db.session(write=True) as session:
        later = users.sign_in(session, USER, PASSWORD, locked.locked_until + timedelta(seconds=1))
    assert later.user_id is not None  # the right password works once the pause is over


def test_an_unknown_user_is_refused_like_a_wrong_password(runtime: Runtime) -> None:
    with runtime.db.session(write=True) as session:
        outcome = users.sign_in(session, "nobody", PASSWORD, NOW)
    assert outcome.user_id is None and outcome.locked_until is None


def test_a_new_password_signs_the_user_out_everywhere(runtime: Runtime) -> None:
    user_id = _user_id(runtime)
    with runtime.db.session(write=True) as session:
        token = sessions.start_session(session, user_id, NOW)
    with runtime.db.session(write=True) as session:
        users.set_password(session, USER, "another long password", NOW)
    with runtime.db.session(write=True) as session:
        assert sessions.find_session(session, token, NOW) is None
        assert users.sign_in(session, USER, PASSWORD, NOW).user_id is None
        assert users.sign_in(session, USER, "another long password", NOW).user_id == user_id
