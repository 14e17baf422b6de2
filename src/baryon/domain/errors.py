"""The domain's own errors: which rule a request broke, and where.

The domain knows no wire format. api/ answers each kind with Proton's modeled error
(api/front_door.py, in one table); the portal shows an error beside the form field its path
names. The path is
data, so no front door ever reads an error's text to find out where it belongs.
"""

from __future__ import annotations

from typing import Self

from baryon.bundles.errors import PathPart, field_path

# Where in the request an error belongs, as member names and list indexes:
# ("name",), ("protonServiceRoleArn",), ("spec",). A service spec's entries are named as the
# spec and the message name them, ("instances", 0, "environment"): the portal's service form
# mirrors the spec's instances.
FieldPath = tuple[PathPart, ...]


class DomainError(Exception):
    """A request the domain refuses. Raise one of the kinds below, never this class.

    ``message`` is the whole sentence a caller sees (Proton's clients compare it);
    ``field`` names the request member at fault, when one is; ``reason`` is the message
    without the location, for a front door that already shows where (beside the field).
    """

    def __init__(self, message: str, *, field: FieldPath | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.reason = reason or message

    @classmethod
    def at(cls, field: FieldPath, reason: str) -> Self:
        """An error whose message starts with the field it names: ``instances[0].name: ...``."""
        return cls(f"{field_path(field)}: {reason}", field=field, reason=reason)


class InvalidInput(DomainError):
    """The request breaks a rule whatever the current state (Proton: ValidationException)."""


class NotFound(DomainError):
    """A resource the request names does not exist (Proton: ResourceNotFoundException)."""


class Conflict(DomainError):
    """The request clashes with the current state: a name taken, a deployment running
    (Proton: ConflictException); the same request may succeed later."""


class Forbidden(DomainError):
    """The caller may not do this: a policy denies it (Proton: AccessDeniedException)."""


class QuotaExceeded(DomainError):
    """The request would go over a limit (Proton: ServiceQuotaExceededException)."""
