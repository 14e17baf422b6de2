"""Deletion protection for environments and services: set by hand (SetDeletionProtection,
``baryon protect``) or by a tag (the setting ``deletion_protection_tag``).

DeleteEnvironment and DeleteService of a protected resource answer ValidationException, as AWS
answers deleting a CloudFormation stack with termination protection (or a DynamoDB table with
deletion protection): the request is fine, the resource says no, and the message names how to
lift it. Nothing else is refused: a protected resource is updated and deployed as any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from baryon.domain.errors import InvalidInput, NotFound
from baryon.operations.context import RequestContext
from baryon.operations.registry import baryon_operation
from baryon.service_models import baryon
from baryon.store.tables import DeletionProtectionRow, Environment, Service, Tag


class ProtectedKind(StrEnum):
    ENVIRONMENT = "ENVIRONMENT"
    SERVICE = "SERVICE"

    @property
    def label(self) -> str:
        return self.lower()


@dataclass(frozen=True)
class ProtectingTag:
    """The setting ``deletion_protection_tag``: ``key=value``, or ``key`` for any value."""

    key: str
    value: str | None

    @classmethod
    def parse(cls, setting: str) -> ProtectingTag | None:
        if not setting.strip():
            return None  # protection by tag is off
        key, sep, value = setting.partition("=")
        return cls(key.strip(), value.strip() if sep else None)

    def __str__(self) -> str:
        return self.key if self.value is None else f"{self.key}={self.value}"


@dataclass(frozen=True)
class Protection:
    kind: ProtectedKind
    name: str
    arn: str
    by_hand: DeletionProtectionRow | None
    by_tag: bool
    tag: ProtectingTag | None

    @property
    def protected(self) -> bool:
        return self.by_hand is not None or self.by_tag

    def refusal(self) -> str:
        """Why a delete is refused, and how to lift it."""
        ways = []
        if self.by_hand is not None:
            ways.append(
                f"it was protected by {self.by_hand.set_by}: lift it with `baryon unprotect "
                f"{self.kind.label} {self.name}` (SetDeletionProtection enabled=false)"
            )
        if self.by_tag:
            ways.append(
                f"it carries the tag {self.tag}: remove the tag (UntagResource, key "
                f"{self.tag.key if self.tag else ''})"
            )
        return (
            f"The {self.kind.label} '{self.name}' is protected from deletion; "
            + "; and ".join(ways)
            + "."
        )


def _arn(ctx: RequestContext, kind: ProtectedKind, name: str) -> str:
    return (
        ctx.arns.environment(name) if kind == ProtectedKind.ENVIRONMENT else ctx.arns.service(name)
    )


def protection_of(
    session: Session, ctx: RequestContext, kind: ProtectedKind, name: str
) -> Protection:
    arn = _arn(ctx, kind, name)
    tag = ProtectingTag.parse(ctx.settings.deletion_protection_tag)
    by_tag = False
    if tag is not None:
        value = session.scalar(select(Tag.value).where(Tag.resource_arn == arn, Tag.key == tag.key))
        by_tag = value is not None and (tag.value is None or value == tag.value)
    return Protection(kind, name, arn, session.get(DeletionProtectionRow, arn), by_tag, tag)


def refuse_if_protected(
    session: Session, ctx: RequestContext, kind: ProtectedKind, name: str
) -> None:
    """Raises InvalidInput (ValidationException) when ``name`` may not be deleted."""
    protection = protection_of(session, ctx, kind, name)
    if protection.protected:
        raise InvalidInput(protection.refusal(), field=("name",))


def _require(session: Session, kind: ProtectedKind, name: str) -> None:
    table = Environment if kind == ProtectedKind.ENVIRONMENT else Service
    if session.scalar(select(table.id).where(table.name == name)) is None:
        raise NotFound(f"The {kind.label} '{name}' was not found.")


def set_protection(
    session: Session, ctx: RequestContext, kind: ProtectedKind, name: str, enabled: bool
) -> Protection:
    _require(session, kind, name)
    arn = _arn(ctx, kind, name)
    row = session.get(DeletionProtectionRow, arn, with_for_update=True)
    if enabled and row is None:
        session.add(
            DeletionProtectionRow(resource_arn=arn, set_by=ctx.principal.label, set_at=ctx.now)
        )
    elif not enabled and row is not None:
        session.delete(row)
    session.flush()
    return protection_of(session, ctx, kind, name)


def view(protection: Protection) -> baryon.DeletionProtection:
    wire: baryon.DeletionProtection = {
        "resourceType": baryon.ProtectableResourceType(protection.kind),
        "name": protection.name,
        "arn": protection.arn,
        "protected": protection.protected,
        "byHand": protection.by_hand is not None,
        "byTag": protection.by_tag,
        "tag": str(protection.tag) if protection.tag else "",
    }
    if protection.by_hand is not None:
        wire["setBy"] = protection.by_hand.set_by
        wire["setAt"] = protection.by_hand.set_at
    return wire


@baryon_operation("SetDeletionProtection")
def set_deletion_protection(
    ctx: RequestContext, request: baryon.SetDeletionProtectionInput
) -> baryon.SetDeletionProtectionOutput:
    kind = ProtectedKind(request["resourceType"])
    with ctx.db.session(write=True) as session:
        protection = set_protection(session, ctx, kind, request["name"], request["enabled"])
        return {"deletionProtection": view(protection)}


@baryon_operation("GetDeletionProtection")
def get_deletion_protection(
    ctx: RequestContext, request: baryon.GetDeletionProtectionInput
) -> baryon.GetDeletionProtectionOutput:
    kind = ProtectedKind(request["resourceType"])
    with ctx.db.session() as session:
        _require(session, kind, request["name"])
        return {"deletionProtection": view(protection_of(session, ctx, kind, request["name"]))}


def delete_blockers(ctx: RequestContext, kind: ProtectedKind, name: str) -> list[str]:
    """Why deleting ``name`` would be refused for its protection (the portal's delete page
    lists it and offers no Delete button): one line naming how to lift it, or none."""
    with ctx.db.session() as session:
        protection = protection_of(session, ctx, kind, name)
    return [protection.refusal()] if protection.protected else []
