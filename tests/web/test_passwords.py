"""Password hashing: scrypt with a salt per password, constant-time checks."""

from __future__ import annotations

from baryon.operations.portal_passwords import hash_password, password_problem, verify_password


def test_a_hash_verifies_only_its_password() -> None:
    stored = hash_password("correct horse battery staple")
    assert stored.startswith("scrypt$")
    assert verify_password("correct horse battery staple", stored)
    assert not verify_password("correct horse battery stapler", stored)
    assert not verify_password("", stored)


def test_every_hash_has_its_own_salt() -> None:
    first, second = hash_password("same password here"), hash_password("same password here")
    assert first != second
    assert first.split("$")[4] != second.split("$")[4]
    assert verify_password("same password here", first)
    assert verify_password("same password here", second)


def test_the_password_is_not_in_the_hash() -> None:
    assert "visible-secret" not in hash_password("visible-secret-123")


def test_a_malformed_or_foreign_hash_never_matches() -> None:
    for stored in ("", "plain", "md5$abc", "scrypt$x$8$1$c2FsdA==$aGFzaA==", "scrypt$1$2$3"):
        assert not verify_password("anything", stored)


def test_new_passwords_have_a_minimum_and_maximum_length() -> None:
    assert password_problem("short") is not None
    assert password_problem("x" * 5000) is not None
    assert password_problem("long enough password") is None
