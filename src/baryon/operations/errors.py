"""The errors operations raise: the domain's own, named here so that front doors, which
call only operations/, catch them without reaching into domain/."""

from __future__ import annotations

from baryon.domain.errors import (
    Conflict,
    DomainError,
    FieldPath,
    Forbidden,
    InvalidInput,
    NotFound,
    QuotaExceeded,
)

__all__ = [
    "Conflict",
    "DomainError",
    "FieldPath",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "QuotaExceeded",
]
