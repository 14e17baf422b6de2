"""Baryon extension operations that describe the server itself."""

from __future__ import annotations

from baryon import __version__
from baryon.operations.context import RequestContext
from baryon.operations.registry import baryon_operation
from baryon.service_models import baryon


@baryon_operation("GetServerInfo")
def get_server_info(
    ctx: RequestContext, request: baryon.GetServerInfoInput
) -> baryon.GetServerInfoOutput:
    settings = ctx.settings
    return {
        "version": __version__,
        "region": settings.region,
        "accountId": settings.account_id,
        "bundleBucket": settings.resolved_bundle_bucket,
        "cloudEndpoint": settings.cloud_endpoint or None,
    }
