"""boto3 clients for the cloud Baryon talks to (never for Baryon's own API)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from baryon.settings import Settings

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=5,
    read_timeout=60,
)


def cloud_client(settings: Settings, service: str) -> Any:
    """A client for ``service`` on the configured cloud: the local cloud or real AWS.

    Without an endpoint and explicit keys, boto3's usual credential chain applies, so a
    scaled deployment uses its instance role like any other AWS program.
    """
    kwargs: dict[str, Any] = {"region_name": settings.region, "config": _CONFIG}
    if settings.cloud_endpoint:
        kwargs["endpoint_url"] = settings.cloud_endpoint
    if settings.cloud_access_key_id:
        kwargs["aws_access_key_id"] = settings.cloud_access_key_id
        kwargs["aws_secret_access_key"] = settings.cloud_secret_access_key
    return boto3.session.Session().client(service, **kwargs)
