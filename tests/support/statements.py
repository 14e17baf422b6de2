"""Telling an operation's own SQL from what every call costs, in tests that count statements."""

from __future__ import annotations

from baryon.store.tables import PolicyGeneration


def is_operation_read(statement: str) -> bool:
    """A SELECT the operation itself sent; not the authorization's check of the policy
    generation, which every call makes (auth/policies/stored.py says why)."""
    text = statement.lstrip()
    return text.upper().startswith("SELECT") and PolicyGeneration.__tablename__ not in text
