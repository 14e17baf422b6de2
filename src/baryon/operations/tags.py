"""TagResource, UntagResource and ListTagsForResource, for every taggable resource."""

from __future__ import annotations

from sqlalchemy import select

from baryon.domain.resources import ensure_exists
from baryon.domain.tags import remove_tags, set_tags
from baryon.operations.context import RequestContext
from baryon.operations.unbuilt import proton_operation
from baryon.service_models import proton
from baryon.store.tables import Tag


@proton_operation("TagResource")
def tag_resource(ctx: RequestContext, request: proton.TagResourceInput) -> proton.TagResourceOutput:
    with ctx.db.session(write=True) as session:
        ensure_exists(session, ctx.arns, request["resourceArn"])
        set_tags(session, request["resourceArn"], request["tags"])
    return {}


@proton_operation("UntagResource")
def untag_resource(
    ctx: RequestContext, request: proton.UntagResourceInput
) -> proton.UntagResourceOutput:
    with ctx.db.session(write=True) as session:
        ensure_exists(session, ctx.arns, request["resourceArn"])
        remove_tags(session, request["resourceArn"], request["tagKeys"])
    return {}


@proton_operation("ListTagsForResource")
def list_tags_for_resource(
    ctx: RequestContext, request: proton.ListTagsForResourceInput
) -> proton.ListTagsForResourceOutput:
    arn = request["resourceArn"]
    with ctx.db.session() as session:
        ensure_exists(session, ctx.arns, arn)
        stmt = select(Tag).where(Tag.resource_arn == arn)
        rows, next_token = ctx.page(session, stmt, [Tag.key], request, scope={"arn": arn})
        return {
            "tags": [{"key": row[0].key, "value": row[0].value} for row in rows],
            "nextToken": next_token,
        }
