"""Who may do what: Cedar policies over Proton's and Baryon's operations.

``decide(policies, principal, action, resource)`` answers one question; ``Policies`` is a
compiled set (builtin.py: the shipped role policies; stored.py: the set in the database,
edited by ``baryon policy put`` and cached per process).
"""

from baryon.auth.policies.actions import ActionGroup, group_of, is_read
from baryon.auth.policies.engine import (
    Decision,
    InvalidPolicy,
    NamedPolicy,
    Policies,
    check,
    decide,
)
from baryon.auth.policies.facts import ResourceFacts, ResourceKind

__all__ = [
    "ActionGroup",
    "Decision",
    "InvalidPolicy",
    "NamedPolicy",
    "Policies",
    "ResourceFacts",
    "ResourceKind",
    "check",
    "decide",
    "group_of",
    "is_read",
]
