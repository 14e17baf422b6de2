"""Baryon extension operations that describe the server itself."""

from __future__ import annotations

from typing import Any

from baryon import __version__
from baryon.operations.context import RequestContext
from baryon.operations.registry import baryon_operation


@baryon_operation("GetServerInfo")
def get_server_info(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    settings = ctx.settings
    return {
        "version": __version__,
        "region": settings.region,
        "accountId": settings.account_id,
        "bundleBucket": settings.resolved_bundle_bucket,
        "cloudEndpoint": settings.cloud_endpoint or None,
    }
