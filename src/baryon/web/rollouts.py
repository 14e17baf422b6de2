"""The Rollouts pages: every rollout, and one rollout to watch and steer (its waves, gate
verdicts, events and resources, with Pause / Resume / Roll back / Cancel and, before it
runs, Preview / Approve / Start). Every action is the baryon model's operation
(operations/rollouts.py), so the portal refuses what the API refuses."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from baryon.operations import rollouts
from baryon.web import urls
from baryon.web.http import PortalError, Visit

MAX_REASON = 1000  # the model's bound
LISTED = 100  # rollouts on the index page
TARGETS_SHOWN = 100  # per page of a rollout's resources
# The actions a rollout page offers: (path, label, operation, flash).
_ACTIONS = {
    "preview": ("PreviewRollout", "Previewing: the fleet preview plans each resource."),
    "approve": ("ApproveRollout", "Approved: the rollout is immutable from now on."),
    "start": ("StartRollout", "Started: the canary wave deploys."),
    "pause": ("PauseRollout", "Paused: nothing new starts, every clock stops."),
    "resume": ("ResumeRollout", "Resumed."),
    "cancel": ("CancelRollout", "Cancelled: nothing more starts."),
    "rollback": ("RollbackRollout", "Rolling back."),
}
_FINISHED = {"SUCCEEDED", "CANCELLED", "SUPERSEDED", "ROLLED_BACK"}


def rollouts_url(rollout_id: str | None = None, action: str | None = None) -> str:
    url = urls.PREFIX + "/rollouts"
    if rollout_id:
        url += f"/{rollout_id}"
    return url + (f"/{action}" if action else "")


def index(visit: Visit) -> Response:
    found = rollouts.list_rollouts(visit.context("ListRollouts"), {"maxResults": LISTED})
    return visit.page("rollouts.html", rollouts=found["rollouts"], rollouts_url=rollouts_url)


def _context(visit: Visit) -> dict[str, Any]:
    rollout_id = visit.param("id")
    answer = rollouts.get_rollout(visit.context("GetRollout"), {"id": rollout_id})
    request: dict[str, Any] = {"id": rollout_id, "maxResults": TARGETS_SHOWN}
    token = visit.query("targets")
    if token:
        request["nextToken"] = token
    wave = visit.query("wave")
    if wave.isdigit():
        request["wave"] = int(wave)
    targets = rollouts.list_rollout_targets(visit.context("ListRolloutTargets"), request)
    state = answer["rollout"]["state"]
    current = next(
        (w for w in answer["waves"] if w["number"] == answer["rollout"]["currentWave"]), None
    )
    waiting = (
        current
        if current is not None
        and state in ("PAUSED", "HALTED")
        and current.get("requiresApproval")
        and not current.get("approvedBy")
        else None
    )
    return {
        # Paused (or halted) before a wave a person must approve: Approve, not Resume.
        "waiting_wave": waiting["number"] if waiting is not None else None,
        "approval_refused": _approval_refused(visit, answer["rollout"], waiting),
        **answer,
        "targets": targets["targets"],
        "next_targets": targets.get("nextToken"),
        "active": state in ("RUNNING", "ROLLING_BACK"),
        "finished": state in _FINISHED,
        "rollouts_url": rollouts_url,
    }


def _approval_refused(
    visit: Visit, rollout: dict[str, Any], waiting: dict[str, Any] | None
) -> str | None:
    """Why the visitor may not approve what the page would offer to approve, when the
    rollout's recorded approval rules refuse it to them: they created it and a rule holds one
    of the resources concerned (domain/rollouts.py). The Approve button gives way to this;
    ApproveRollout still refuses them itself, the rules judged afresh."""
    if visit.context("GetRollout").principal.label != rollout["createdBy"]:
        return None
    if waiting is not None:
        rules = waiting.get("approvalRules")
        what = f"wave {waiting['number']}"
    elif rollout["state"] == "PREVIEWED":
        rules = rollout.get("approvalRules")
        what = "this rollout"
    else:
        return None
    if not rules:
        return None
    return (
        f"You created this rollout, and approval rule {', '.join(rules)} holds resources of "
        f"{what}: someone other than you who may approve rollouts approves it."
    )


def rollout_page(visit: Visit) -> Response:
    return visit.page("rollout.html", **_context(visit))


def rollout_live(visit: Visit) -> Response:
    return visit.page("_rollout_live.html", **_context(visit))


def rollback_preview(visit: Visit) -> Response:
    """What rolling back the wave (``?wave=N``) or the whole rollout would do, resource by
    resource, with the button that rolls back exactly that (PreviewRolloutRollback)."""
    rollout_id = visit.param("id")
    request: dict[str, Any] = {"id": rollout_id}
    wave = visit.query("wave")
    if wave.isdigit():
        request["wave"] = int(wave)
    found = rollouts.preview_rollout_rollback(visit.context("PreviewRolloutRollback"), request)
    answer = rollouts.get_rollout(visit.context("GetRollout"), {"id": rollout_id})
    return visit.page(
        "rollout_rollback.html",
        rollout=answer["rollout"],
        found=found,
        scope=f"wave {request['wave']}" if "wave" in request else "the whole rollout",
        rollouts_url=rollouts_url,
    )


def act(visit: Visit) -> Response:
    rollout_id, action = visit.param("id"), visit.param("action")
    if action not in _ACTIONS:
        raise PortalError(f"A rollout has no action '{action}'.")
    operation, flash = _ACTIONS[action]
    request: dict[str, Any] = {"id": rollout_id}
    reason = visit.form.get("reason", "").strip()
    if len(reason) > MAX_REASON:
        raise PortalError(f"A reason is at most {MAX_REASON} characters.")
    if reason and action in ("pause", "cancel"):
        request["reason"] = reason
    if reason and action == "approve":
        request["comment"] = reason
    if action == "approve" and visit.form.get("wave", "").isdigit():
        flash = f"Approved: wave {visit.form['wave']} deploys."
    wave = visit.form.get("wave", "")
    if action == "rollback" and wave.isdigit():
        request["wave"] = int(wave)
    if action == "rollback":
        # Only from the preview page: its token names exactly what it showed.
        request["previewToken"] = visit.form.get("token", "")
    handler = getattr(rollouts, f"{action}_rollout")
    handler(visit.context(operation), request)
    return visit.redirect(rollouts_url(rollout_id), flash)
