"""The Approvals page: deployments that wait for approval, each with the preview of what it
would change, and Approve / Reject with a comment. Every action is the baryon model's
operation (operations/approvals.py), so the portal refuses what the API refuses: an approval
by the change's own requester, a decision on one that no longer waits."""

from __future__ import annotations

from starlette.responses import Response

from baryon.operations import approvals
from baryon.service_models.baryon import ApprovalStatus
from baryon.web import urls
from baryon.web.http import PortalError, Visit

RECENT = 20  # decided approvals shown under the waiting ones
MAX_COMMENT = 2000  # the model's bound


def approvals_url(deployment_id: str | None = None, action: str | None = None) -> str:
    url = urls.PREFIX + "/approvals"
    if deployment_id:
        url += f"/{deployment_id}"
    return url + (f"/{action}" if action else "")


def index(visit: Visit) -> Response:
    context = visit.context("ListApprovals")
    waiting = approvals.list_approvals(context, {"status": ApprovalStatus.PENDING})
    recent = approvals.list_approvals(context, {"maxResults": RECENT})
    return visit.page(
        "approvals.html",
        waiting=waiting["approvals"],
        decided=[a for a in recent["approvals"] if a["status"] != ApprovalStatus.PENDING],
        approvals_url=approvals_url,
    )


def approval_page(visit: Visit) -> Response:
    detail = approvals.approval_detail(visit.context("GetApproval"), visit.param("id"))
    return visit.page(
        "approval.html",
        approval=detail.approval,
        preview=detail.preview,
        preview_problem=detail.preview_problem,
        approvals_url=approvals_url,
    )


def _comment(visit: Visit) -> str | None:
    comment = visit.form.get("comment", "").strip()
    if len(comment) > MAX_COMMENT:
        raise PortalError(f"A comment is at most {MAX_COMMENT} characters.")
    return comment or None


def approve(visit: Visit) -> Response:
    deployment_id = visit.param("id")
    request = {"deploymentId": deployment_id}
    comment = _comment(visit)
    if comment:
        request["comment"] = comment
    approvals.approve_deployment(visit.context("ApproveDeployment"), request)  # type: ignore[arg-type]
    return visit.redirect(
        approvals_url(deployment_id), f"Approved: deployment {deployment_id} runs now."
    )


def reject(visit: Visit) -> Response:
    deployment_id = visit.param("id")
    request = {"deploymentId": deployment_id}
    comment = _comment(visit)
    if comment:
        request["comment"] = comment
    approvals.reject_deployment(visit.context("RejectDeployment"), request)  # type: ignore[arg-type]
    return visit.redirect(
        approvals_url(deployment_id),
        f"Rejected: deployment {deployment_id} ends, nothing deployed.",
    )
