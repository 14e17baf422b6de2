"""CreateBundleUpload: presigned URLs that let a caller with only a Baryon key upload an archive.

Nothing is recorded and no cloud is called (presigning is local; cloud/upload_urls.py), so
an upload that is never made leaves nothing behind but an expired URL. The URLs are for the
request's region, whose cell holds its own cloud and signer.
"""

from __future__ import annotations

from baryon.domain.bundle_uploads import upload_place
from baryon.operations.context import RequestContext
from baryon.operations.registry import baryon_operation
from baryon.service_models import baryon

# Long enough to send the largest bundle over a slow link, short enough that a leaked URL
# soon stops working.
UPLOAD_URL_SECONDS = 15 * 60
# The CLI deletes an upload after what it was for failed, which it may learn only once a
# registration finished (publish --timeout defaults to 300 s). Temporary cloud credentials
# (an instance role) end a URL sooner if they expire first.
DELETE_URL_SECONDS = 2 * 60 * 60


@baryon_operation("CreateBundleUpload")
def create_bundle_upload(
    ctx: RequestContext, request: baryon.CreateBundleUploadInput
) -> baryon.CreateBundleUploadOutput:
    size, digest = request["contentLength"], request["contentSha256"]
    place = upload_place(
        ctx.settings,
        baryon.BundleUploadPurpose(request["purpose"]),
        request.get("templateName"),
        size,
        digest,
    )
    bucket = ctx.settings.resolved_bundle_bucket
    signer = ctx.runtime.bundle_url_signer
    put = signer.put_url(bucket, place.key, size, digest, UPLOAD_URL_SECONDS)
    delete = signer.delete_url(bucket, place.key, DELETE_URL_SECONDS)
    return {
        "bucket": bucket,
        "key": place.key,
        "uploadUrl": put.url,
        "deleteUrl": delete.url,
        "expiresAt": put.expires_at,
        "deleteExpiresAt": delete.expires_at,
        "maxBytes": place.max_bytes,
    }
