"""The bucket template bundles are uploaded to."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError

from baryon.cloud.clients import cloud_client
from baryon.settings import Settings

log = logging.getLogger(__name__)


def ensure_bundle_bucket(settings: Settings) -> None:
    """Creates the bundle bucket if it is missing; on real AWS it may belong to an operator
    who denies us CreateBucket, which is fine as long as it exists."""
    s3 = cloud_client(settings, "s3")
    bucket = settings.resolved_bundle_bucket
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            log.warning("cannot check the bundle bucket %s: %s", bucket, exc)
            return
    try:
        s3.create_bucket(Bucket=bucket, **location(settings.region))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in (
            "BucketAlreadyOwnedByYou",
            "BucketAlreadyExists",
        ):
            raise


def location(region: str) -> dict[str, Any]:
    """CreateBucket's arguments for a bucket in ``region``: S3 refuses a LocationConstraint
    of us-east-1 (its default) and requires one for every other region."""
    if region == "us-east-1":
        return {}
    return {"CreateBucketConfiguration": {"LocationConstraint": region}}
