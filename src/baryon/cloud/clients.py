"""boto3 clients for the cloud Baryon talks to (never for Baryon's own API)."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import DeferredRefreshableCredentials

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
# Re-entrant: an assumed role's client asks for the STS client while it is being built.
_clients_lock = threading.RLock()


def cloud_client(settings: Settings, service: str, role_arn: str | None = None) -> Any:
    """A client for ``service`` on the configured cloud: the local cloud or real AWS.

    Without an endpoint and explicit keys, boto3's usual credential chain applies, so a
    scaled deployment uses its instance role like any other AWS program. With ``role_arn``
    (an environment account connection's role) the client acts as that role, in its account:
    Baryon's own credentials assume it through STS on the same endpoint, and the assumed keys
    renew themselves before they expire.
    """
    key = (
        service,
        settings.region,
        settings.cloud_endpoint,
        settings.cloud_access_key_id,
        settings.cloud_secret_access_key,
        role_arn,
    )
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = _new_client(settings, service, role_arn)
        return client


def _new_client(settings: Settings, service: str, role_arn: str | None = None) -> Any:
    kwargs: dict[str, Any] = {"region_name": settings.region, "config": _CONFIG}
    if settings.cloud_endpoint:
        kwargs["endpoint_url"] = settings.cloud_endpoint
    if role_arn:
        return _assumed_role_session(settings, role_arn).client(service, **kwargs)
    if settings.cloud_access_key_id:
        kwargs["aws_access_key_id"] = settings.cloud_access_key_id
        kwargs["aws_secret_access_key"] = settings.cloud_secret_access_key
    return boto3.session.Session().client(service, **kwargs)


def _assumed_role_session(settings: Settings, role_arn: str) -> boto3.session.Session:
    """A session whose credentials are ``role_arn``'s, fetched from the configured cloud's
    STS (with Baryon's own credentials) at the first call and again before they expire."""
    sts = cloud_client(settings, "sts")
    # STS allows [\w+=,.@-]{2,64}; the role's name says whose work this is in its account.
    session_name = "baryon-" + role_arn.rsplit("/", 1)[-1][:56]

    def fetch() -> dict[str, str]:
        answer = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)
        credentials = answer["Credentials"]
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": credentials["Expiration"].isoformat(),
        }

    botocore_session = botocore.session.get_session()
    # Deferred: nothing reaches STS while the client cache is locked; the first call does.
    botocore_session._credentials = DeferredRefreshableCredentials(
        refresh_using=fetch, method="sts-assume-role"
    )
    return boto3.session.Session(botocore_session=botocore_session)
