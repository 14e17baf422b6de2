"""boto3 clients for the cloud Baryon talks to (never for Baryon's own API)."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from baryon.settings import Settings

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=5,
    read_timeout=60,
    # Every worker thread may share one client: room for all of them to keep a connection.
    max_pool_connections=32,
)

# Building a client costs ~0.1 s of CPU (botocore loads and parses its service model), more
# than a whole deployment step on the local cloud, so each process keeps one per cloud and
# service. botocore clients are thread-safe, and credentials from boto3's chain (assumed
# roles, instance profiles) refresh themselves inside the client, so sharing loses nothing.
_clients: dict[tuple[str | None, ...], Any] = {}
_clients_lock = threading.Lock()


def cloud_client(settings: Settings, service: str) -> Any:
    """A client for ``service`` on the configured cloud: the local cloud or real AWS.

    Without an endpoint and explicit keys, boto3's usual credential chain applies, so a
    scaled deployment uses its instance role like any other AWS program.
    """
    key = (
        service,
        settings.region,
        settings.cloud_endpoint,
        settings.cloud_access_key_id,
        settings.cloud_secret_access_key,
    )
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = _new_client(settings, service)
        return client


def _new_client(settings: Settings, service: str) -> Any:
    kwargs: dict[str, Any] = {"region_name": settings.region, "config": _CONFIG}
    if settings.cloud_endpoint:
        kwargs["endpoint_url"] = settings.cloud_endpoint
    if settings.cloud_access_key_id:
        kwargs["aws_access_key_id"] = settings.cloud_access_key_id
        kwargs["aws_secret_access_key"] = settings.cloud_secret_access_key
    return boto3.session.Session().client(service, **kwargs)
