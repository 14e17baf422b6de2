"""Tags on Proton resources, stored by resource ARN."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from baryon.domain.errors import InvalidInput
from baryon.service_models import proton
from baryon.store.tables import Tag

MAX_TAGS_PER_RESOURCE = 50
RESERVED_PREFIX = "aws:"


def set_tags(session: Session, arn: str, tags: Sequence[proton.Tag]) -> None:
    """Adds tags or overwrites the values of existing keys."""
    reserved = [t["key"] for t in tags if t["key"].lower().startswith(RESERVED_PREFIX)]
    if reserved:
        raise InvalidInput(
            f"Tag keys starting with '{RESERVED_PREFIX}' are reserved: {', '.join(reserved)}",
            field=("tags",),
        )
    wanted = {t["key"]: t["value"] for t in tags}
    existing = {row.key: row for row in session.scalars(select(Tag).where(Tag.resource_arn == arn))}
    added = [key for key in wanted if key not in existing]
    total = len(existing) + len(added)
    if total > MAX_TAGS_PER_RESOURCE:
        raise InvalidInput(
            f"A resource can have at most {MAX_TAGS_PER_RESOURCE} tags; this request would "
            f"give '{arn}' {total}.",
            field=("tags",),
        )
    for key, value in wanted.items():
        if key in existing:
            existing[key].value = value
        else:
            session.add(Tag(resource_arn=arn, key=key, value=value))


def remove_tags(session: Session, arn: str, keys: list[str]) -> None:
    session.execute(delete(Tag).where(Tag.resource_arn == arn, Tag.key.in_(keys)))


def inherit_tags(session: Session, parent_arn: str, child_arn: str) -> None:
    """A new Proton resource starts with its parent's customer tags (Proton: they "propagate to
    child AWS Proton resources ... except ... to existing AWS Proton resources or to
    provisioned resources"); its own tags, set afterwards, win on a shared key."""
    inherited: list[proton.Tag] = [
        {"key": row.key, "value": row.value}
        for row in session.scalars(select(Tag).where(Tag.resource_arn == parent_arn))
    ]
    if inherited:
        set_tags(session, child_arn, inherited)
