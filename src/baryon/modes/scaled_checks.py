"""What a `baryon server` or `baryon worker` replica needs, checked before it starts.

A replica that starts without them seems fine and fails later, one request or job at a time:
without BARYON_MASTER_KEY it would make a key of its own (every secret sealed by the others
unreadable: InternalServerException on each call); without cloud credentials each upload and
deployment says "Unable to locate credentials". A replica refuses to start instead, with one
line that names the setting.
"""

from __future__ import annotations

import boto3
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from baryon.modes.startup_errors import DatabaseUnreachable, NotConfigured
from baryon.runtime import Runtime, build_runtime
from baryon.settings import Settings

NEW_KEY_COMMAND = (
    "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)


def check_scaled_settings(settings: Settings, role: str) -> None:
    """Raises NotConfigured for the first missing or malformed setting ``role`` needs."""
    if not settings.database_url:
        raise NotConfigured(
            f"baryon {role} needs BARYON_DATABASE_URL (scaled mode shares one PostgreSQL)",
            "set it on every server and worker, e.g. postgresql+psycopg://user:pass@host/baryon "
            "(or run `baryon up` for one machine)",
        )
    try:
        make_url(settings.database_url)
    except ArgumentError as exc:
        raise NotConfigured(
            f"BARYON_DATABASE_URL is not a database URL: {exc}",
            "use the form postgresql+psycopg://user:pass@host:5432/baryon",
        ) from exc
    _check_master_key(settings, role)
    _check_cloud_credentials(settings, role)


def _check_master_key(settings: Settings, role: str) -> None:
    if not settings.master_key:
        raise NotConfigured(
            f"baryon {role} needs BARYON_MASTER_KEY, the same on every server and worker",
            f"set it (a new one: {NEW_KEY_COMMAND}) and keep it safe: it unlocks every secret",
        )
    try:
        Fernet(settings.master_key.encode())
    except ValueError as exc:
        raise NotConfigured(
            "BARYON_MASTER_KEY is not a valid key (32 url-safe base64-encoded bytes)",
            f"use the key the other replicas use, or a new one from: {NEW_KEY_COMMAND}",
        ) from exc
    if settings.master_key_previous:  # set while the key is rotated (auth/key_rotation.py)
        try:
            Fernet(settings.master_key_previous.encode())
        except ValueError as exc:
            raise NotConfigured(
                "BARYON_MASTER_KEY_PREVIOUS is not a valid key (32 url-safe base64-encoded bytes)",
                "set it to the key BARYON_MASTER_KEY replaces, or unset it",
            ) from exc


def _check_cloud_credentials(settings: Settings, role: str) -> None:
    """Explicit keys, or whatever boto3's own chain finds (a profile, an instance role)."""
    if settings.cloud_access_key_id or settings.cloud_secret_access_key:
        if not (settings.cloud_access_key_id and settings.cloud_secret_access_key):
            raise NotConfigured(
                "only one of BARYON_CLOUD_ACCESS_KEY_ID and BARYON_CLOUD_SECRET_ACCESS_KEY is set",
                "set both, or neither to use AWS's own credential chain",
            )
        return
    if boto3.session.Session().get_credentials() is None:
        where = settings.cloud_endpoint or "AWS"
        raise NotConfigured(
            f"baryon {role} has no credentials for the cloud ({where})",
            "set BARYON_CLOUD_ACCESS_KEY_ID and BARYON_CLOUD_SECRET_ACCESS_KEY, or give the "
            "process AWS credentials (AWS_PROFILE, an instance or task role)",
        )


def open_scaled_runtime(settings: Settings) -> Runtime:
    """The runtime on the shared database; a database that cannot be reached is one line."""
    try:
        return build_runtime(settings)
    except SQLAlchemyError as exc:
        shown = make_url(settings.database_url).render_as_string(hide_password=True)
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise DatabaseUnreachable(
            f"cannot reach the database {shown}: {reason}",
            "check BARYON_DATABASE_URL and that PostgreSQL runs and accepts this user",
        ) from exc
