"""Principals for tests that call operations in-process for a purpose other than policies:
the policies are tested by tests/auth/test_policies*.py and tests/live/test_policy_matrix.py."""

from __future__ import annotations

from baryon.auth.principals import Principal, PrincipalKind

# An administrator: every built-in policy lets it do anything.
ADMIN = Principal(PrincipalKind.USER, "test-admin", roles=frozenset({"admin"}))
