"""Who is asking: the principal every operation is authorized for and audited as.

Every front door turns its caller into one (api/ from the access key that signed the request,
web/ from the signed-in portal user); operations/authorization.py decides what the principal
may do, operations/audit_trail.py records what it did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class PrincipalKind(StrEnum):
    USER = "user"  # a person: a portal user, or an access key that belongs to one
    ROBOT = "robot"  # a named machine identity (a pipeline's key) that belongs to no person
    ACCOUNT = "account"  # an environment account's operator key (environment account connections)
    PROGRAM = "program"  # a provisioning program's key, scoped to one resource
    SYSTEM = "system"  # Baryon itself: template sync, service sync, imports


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    name: str  # the user's or robot's name, the account id, the resource ARN, or "baryon"
    teams: frozenset[str] = field(default_factory=frozenset)  # teams it belongs to
    roles: frozenset[str] = field(default_factory=frozenset)  # roles given to it or its teams

    @property
    def label(self) -> str:
        """How audit records and messages name it: ``user/alice``, ``robot/ci``."""
        return f"{self.kind}/{self.name}"


SYSTEM = Principal(PrincipalKind.SYSTEM, "baryon", roles=frozenset({"admin"}))


PORTAL_PREFIX = "portal:"  # a portal user's caller string is "portal:<user name>"
