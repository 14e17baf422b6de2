"""Rollouts: a selected set of resources moved to one template version, in waves with gates.

A rollout is planned (DRAFT), previewed (PREVIEWED, with a hash of what the fleet looked
like), approved (APPROVED: immutable from then on) and started (RUNNING); the rollout job
(engine/rollouts.py) then moves it on, one short transaction per look
(domain/rollout_progress.py). Every command here is one transaction that changes the state,
records an event saying who and why, and asks for a look when there is something to do.
A changed plan is a new rollout that supersedes the old one.

A rollout's waves do not pass the approval gate (domain/approval_gate.py) one deployment at a
time: the rollout is approved as a whole. So the approval rules judge it instead: each
resource's move, as the rollout's creator meets the rules, when it is created, and again when
its creator previews or approves it (the fleet, its tags or the rules may have changed
since). When any rule would hold one, the rollout records which rules and why, and its
approval (and that of each wave holding such a resource) must come from someone other than
its creator, as a held deployment's must come from someone other than its requester
(domain/approvals.py).

A rollback a person asks for (RollbackRollout) is judged the same way, as that person meets
the rules: each rollback deployment a rule holds waits for someone else's approval
(domain/approval_gate.py). The rollout's own rollback on a failed gate asks nobody: it acts
under the rollout's approval and says so.

A pause stops the rollout's clocks: its bake clock, and the target deadline of each deployment
in flight, which moves later by the time the rollout spent paused.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session

from baryon.domain import approval_gate, fleet_previews, rollbacks, versions
from baryon.domain.approval_gate import ApprovalPolicy
from baryon.domain.arns import Arns
from baryon.domain.deployments import DeploymentOperation
from baryon.domain.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from baryon.domain.templates import TemplateKind
from baryon.service_models.baryon import (
    RolloutFailureAction,
    RolloutState,
    RolloutTargetState,
    RolloutTemplateType,
    RolloutToleranceMode,
    RolloutToleranceScope,
    RolloutWaveState,
)
from baryon.service_models.proton import DeploymentTargetResourceType
from baryon.store.jobs import JobKind, enqueue_once
from baryon.store.tables import (
    Environment,
    RolloutEventRow,
    RolloutRow,
    RolloutTargetRow,
    RolloutWaveRow,
    ServiceInstance,
    Tag,
    Template,
)

ENGINE = "system/rollout-engine"  # how events name the rollout job's own decisions
MAX_TARGETS = 5000  # one rollout; a bigger fleet is several rollouts (bounded work per look)
_ROLLBACK_TOKEN_LENGTH = 32  # as a resource's rollback token (domain/rollbacks.py)

# States a rollout ends in: nothing more happens to it.
FINISHED = frozenset(
    {
        RolloutState.SUCCEEDED,
        RolloutState.CANCELLED,
        RolloutState.SUPERSEDED,
        RolloutState.ROLLED_BACK,
    }
)
# States in which the rollout may still start deployments: its resources are spoken for.
_HOLDING = frozenset(set(RolloutState) - FINISHED)
# A new plan may replace one of these; a running rollout is paused first.
_SUPERSEDABLE = frozenset(
    {
        RolloutState.DRAFT,
        RolloutState.PREVIEWED,
        RolloutState.APPROVED,
        RolloutState.PAUSED,
        RolloutState.HALTED,
    }
)


@dataclass(frozen=True)
class ResourceRef:
    environment_name: str | None = None
    service_name: str | None = None
    instance_name: str | None = None


@dataclass(frozen=True)
class Selection:
    current_versions: tuple[str, ...] = ()  # "1" or "1.0"; empty: everything behind the target
    environments: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    resources: tuple[ResourceRef, ...] = ()


@dataclass(frozen=True)
class WaveSpec:
    count: int | None = None
    percent: int | None = None
    bake_seconds: int | None = None  # None: the rollout's
    requires_approval: bool = False  # a person approves the wave before it starts


@dataclass(frozen=True)
class Tolerance:
    count: int = 0
    mode: RolloutToleranceMode = RolloutToleranceMode.STRICT
    scope: RolloutToleranceScope = RolloutToleranceScope.OVERALL


@dataclass(frozen=True)
class RolloutPlan:
    """What a rollout was asked to do, kept on its row as JSON."""

    selection: Selection = field(default_factory=Selection)
    waves: tuple[WaveSpec, ...] = (WaveSpec(),)
    concurrency: int = 10
    tolerance: Tolerance = field(default_factory=Tolerance)
    alarm_names: tuple[str, ...] = ()
    bake_seconds: int = 0
    on_failure: RolloutFailureAction = RolloutFailureAction.HALT
    # A deployment still running this long after the rollout started it counts as failed.
    target_deadline_seconds: int | None = None

    def to_json(self) -> dict[str, Any]:
        encoded: dict[str, Any] = json.loads(json.dumps(asdict(self)))
        return encoded

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RolloutPlan:
        selection = data.get("selection", {})
        return cls(
            selection=Selection(
                current_versions=tuple(selection.get("current_versions", ())),
                environments=tuple(selection.get("environments", ())),
                services=tuple(selection.get("services", ())),
                tags=tuple((key, value) for key, value in selection.get("tags", ())),
                resources=tuple(ResourceRef(**ref) for ref in selection.get("resources", ())),
            ),
            waves=tuple(WaveSpec(**wave) for wave in data.get("waves", ())),
            concurrency=data.get("concurrency", 10),
            tolerance=Tolerance(
                count=data["tolerance"]["count"],
                mode=RolloutToleranceMode(data["tolerance"]["mode"]),
                scope=RolloutToleranceScope(data["tolerance"]["scope"]),
            ),
            alarm_names=tuple(data.get("alarm_names", ())),
            bake_seconds=data.get("bake_seconds", 0),
            on_failure=RolloutFailureAction(data.get("on_failure", RolloutFailureAction.HALT)),
            target_deadline_seconds=data.get("target_deadline_seconds"),
        )


@dataclass(frozen=True)
class NewRollout:
    name: str
    template_type: RolloutTemplateType
    template_name: str
    target_major: int
    target_minor: int
    plan: RolloutPlan
    supersedes: str | None = None


def plan_of(rollout: RolloutRow) -> RolloutPlan:
    return RolloutPlan.from_json(rollout.plan)


def find(session: Session, rollout_id: str, *, lock: bool = False) -> RolloutRow:
    rollout = session.get(RolloutRow, rollout_id, with_for_update=lock)
    if rollout is None:
        raise NotFound(f"The rollout '{rollout_id}' was not found.")
    return rollout


def record(session: Session, rollout: RolloutRow, actor: str, message: str, now: datetime) -> None:
    session.add(RolloutEventRow(rollout_id=rollout.id, at=now, actor=actor, message=message))
    rollout.last_modified_at = now


def ask_for_look(session: Session, rollout: RolloutRow, now: datetime, delay: float = 0.0) -> None:
    """Queues the rollout job (once: a waiting look covers a second request)."""
    enqueue_once(
        session,
        JobKind.ROLLOUT,
        {"rollout_id": rollout.id},
        now,
        run_after=now + timedelta(seconds=delay),
    )


def wake_for(session: Session, deployment_id: str, now: datetime) -> None:
    """A deployment ended: if a rollout that is not finished started it (forward or back),
    its next look is due now rather than at its next tick. Called in the transaction that
    records the outcome, so the look sees it."""
    rollout_ids = session.scalars(_STARTED_BY, {"deployment_id": deployment_id}).all()
    for rollout_id in set(rollout_ids):
        enqueue_once(session, JobKind.ROLLOUT, {"rollout_id": rollout_id}, now)


# Built once (building a select and its cache key costs more than running it: issue 17).
_STARTED_BY = (
    select(RolloutTargetRow.rollout_id)
    .join(RolloutRow, RolloutRow.id == RolloutTargetRow.rollout_id)
    .where(
        or_(
            RolloutTargetRow.deployment_id == bindparam("deployment_id"),
            RolloutTargetRow.rollback_deployment_id == bindparam("deployment_id"),
        ),
        RolloutRow.state.in_(_HOLDING),
    )
)


def needing_looks(session: Session) -> list[str]:
    """Rollouts that must be looked at again: running or rolling back, or paused or halted
    with deployments still in flight (they are followed to their end)."""
    moving = session.scalars(
        select(RolloutRow.id).where(
            RolloutRow.state.in_((RolloutState.RUNNING, RolloutState.ROLLING_BACK))
        )
    ).all()
    following = session.scalars(
        select(RolloutRow.id).where(
            RolloutRow.state.in_((RolloutState.PAUSED, RolloutState.HALTED)),
            RolloutRow.id.in_(
                select(RolloutTargetRow.rollout_id).where(
                    RolloutTargetRow.state.in_(
                        (RolloutTargetState.DEPLOYING, RolloutTargetState.ROLLING_BACK)
                    )
                )
            ),
        )
    ).all()
    return sorted({*moving, *following})


def halt_on_engine_failure(
    session: Session, rollout_id: str, error: str, now: datetime
) -> RolloutRow | None:
    """The rollout job failed for good: a moving rollout halts with the error as its
    reason (a person resumes, rolls back or cancels it), rather than sitting idle."""
    rollout = session.get(RolloutRow, rollout_id, with_for_update=True)
    if rollout is None or rollout.state in FINISHED:
        return rollout
    why = f"the rollout engine could not move it on: {error}"
    if rollout.state in (RolloutState.RUNNING, RolloutState.ROLLING_BACK):
        stop_clocks(session, rollout, now)
        wave = wave_of(session, rollout.id, rollout.current_wave) if rollout.current_wave else None
        if wave is not None and wave.state in (
            RolloutWaveState.DEPLOYING,
            RolloutWaveState.BAKING,
            RolloutWaveState.ROLLING_BACK,
        ):
            wave.state = RolloutWaveState.HALTED
        rollout.state = RolloutState.HALTED
        rollout.rollback_scope = None
        rollout.state_message = why[:2000]
        record(session, rollout, ENGINE, f"Halted: {why}."[:4000], now)
    else:
        record(session, rollout, ENGINE, f"Not followed: {why}."[:4000], now)
    return rollout


def awaiting_approval(wave: RolloutWaveRow) -> bool:
    return wave.requires_approval and wave.approved_at is None


# --- planning -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    arn: str
    kind: DeploymentTargetResourceType
    environment_name: str
    service_name: str | None
    instance_name: str | None
    major: int
    minor: int
    last_attempted_deployment_id: str | None
    row: Environment | ServiceInstance = field(compare=False, repr=False)

    @property
    def sort_key(self) -> tuple[str, str, str]:
        return (self.environment_name, self.service_name or "", self.instance_name or "")


def _template_kind(template_type: RolloutTemplateType) -> TemplateKind:
    if template_type == RolloutTemplateType.ENVIRONMENT:
        return TemplateKind.ENVIRONMENT
    return TemplateKind.SERVICE


def _version_filter(text: str) -> tuple[int, int | None]:
    major, _, minor = text.partition(".")
    return int(major), (int(minor) if minor else None)


def _candidates(
    session: Session, arns: Arns, template: Template, selection: Selection
) -> list[_Candidate]:
    found: list[_Candidate] = []
    if TemplateKind(template.kind) == TemplateKind.ENVIRONMENT:
        environments = session.scalars(
            select(Environment).where(Environment.template_id == template.id)
        )
        for environment in environments:
            found.append(
                _Candidate(
                    arns.environment(environment.name),
                    DeploymentTargetResourceType.ENVIRONMENT,
                    environment.name,
                    None,
                    None,
                    environment.template_major,
                    environment.template_minor,
                    environment.last_attempted_deployment_id,
                    environment,
                )
            )
    else:
        instances = session.scalars(
            select(ServiceInstance).where(ServiceInstance.template_id == template.id)
        )
        for instance in instances:
            found.append(
                _Candidate(
                    arns.service_instance(instance.service_name, instance.name),
                    DeploymentTargetResourceType.SERVICE_INSTANCE,
                    instance.environment_name,
                    instance.service_name,
                    instance.name,
                    instance.template_major,
                    instance.template_minor,
                    instance.last_attempted_deployment_id,
                    instance,
                )
            )
    return found


def _matches(candidate: _Candidate, selection: Selection, tags: dict[str, dict[str, str]]) -> bool:
    if selection.environments and candidate.environment_name not in selection.environments:
        return False
    if selection.services and candidate.service_name not in selection.services:
        return False
    if selection.current_versions:
        wanted = [_version_filter(text) for text in selection.current_versions]
        if not any(
            major == candidate.major and minor in (None, candidate.minor) for major, minor in wanted
        ):
            return False
    if selection.resources and not any(
        ref.environment_name in (None, candidate.environment_name)
        and ref.service_name in (None, candidate.service_name)
        and ref.instance_name in (None, candidate.instance_name)
        and (ref.service_name is not None) == (candidate.service_name is not None)
        for ref in selection.resources
    ):
        return False
    own = tags.get(candidate.arn, {})
    return all(own.get(key) == value for key, value in selection.tags)


def wave_sizes(count: int, specs: Sequence[WaveSpec]) -> list[int]:
    """Wave sizes: each spec's count or share (rounded up), the last one takes the rest."""
    sizes, remaining = [], count
    for index, spec in enumerate(specs):
        if index == len(specs) - 1:
            size = remaining
        elif spec.count is not None:
            size = min(spec.count, remaining)
        else:
            size = min(math.ceil((spec.percent or 0) * count / 100), remaining)
        sizes.append(size)
        remaining -= size
    return sizes


def _check_plan(new: NewRollout) -> None:
    plan = new.plan
    for index, wave in enumerate(plan.waves):
        if (wave.count is None) == (wave.percent is None) and index < len(plan.waves) - 1:
            raise InvalidInput.at(
                ("waves", index), "a wave takes a count or a percent (not both, not neither)."
            )
        if wave.count is not None and wave.percent is not None:
            raise InvalidInput.at(("waves", index), "a wave takes a count or a percent, not both.")
        if wave.count == 0:
            raise InvalidInput.at(("waves", index, "count"), "a wave has at least one resource.")
        if index == 0 and wave.requires_approval:
            raise InvalidInput.at(
                ("waves", 0, "requiresApproval"),
                "the rollout's own approval covers wave 1; ask for approval of a later wave.",
            )
    for index, ref in enumerate(plan.selection.resources):
        if new.template_type == RolloutTemplateType.ENVIRONMENT and (
            ref.environment_name is None or ref.service_name or ref.instance_name
        ):
            raise InvalidInput.at(
                ("selection", "resources", index),
                "an environment template's rollout picks environments by environmentName.",
            )
        if new.template_type == RolloutTemplateType.SERVICE and (
            ref.service_name is None or ref.instance_name is None
        ):
            raise InvalidInput.at(
                ("selection", "resources", index),
                "a service template's rollout picks instances by serviceName and "
                "serviceInstanceName.",
            )


def create(session: Session, arns: Arns, new: NewRollout, actor: str, now: datetime) -> RolloutRow:
    """A DRAFT rollout of what the selection matches now, split into waves."""
    _check_plan(new)
    kind = _template_kind(new.template_type)
    template = session.scalars(
        select(Template).where(Template.kind == kind.value, Template.name == new.template_name)
    ).first()
    if template is None:
        raise NotFound(f"The {kind.label} '{new.template_name}' was not found.")
    versions.published_version(session, template, new.target_major, new.target_minor)
    target = (new.target_major, new.target_minor)
    superseded = _superseded(session, new.supersedes)
    selection = new.plan.selection
    tags: dict[str, dict[str, str]] = {}
    if selection.tags:
        for row in session.scalars(select(Tag).where(Tag.key.in_([k for k, _ in selection.tags]))):
            tags.setdefault(row.resource_arn, {})[row.key] = row.value
    chosen = sorted(
        (
            candidate
            for candidate in _candidates(session, arns, template, selection)
            if _matches(candidate, selection, tags)
            and (selection.current_versions or (candidate.major, candidate.minor) < target)
            and (candidate.major, candidate.minor) != target
        ),
        key=lambda candidate: candidate.sort_key,
    )
    if not chosen:
        raise InvalidInput(
            f"The selection matches no resource of '{template.name}' that is not already on "
            f"{new.target_major}.{new.target_minor}.",
            field=("selection",),
        )
    if len(chosen) > MAX_TARGETS:
        raise InvalidInput(
            f"The selection matches {len(chosen)} resources; a rollout moves at most "
            f"{MAX_TARGETS}: narrow it, or split the fleet into several rollouts.",
            field=("selection",),
        )
    _refuse_taken(session, [candidate.arn for candidate in chosen], superseded)
    rollout = RolloutRow(
        id=str(uuid.uuid4()),
        name=new.name,
        template_kind=kind.value,
        template_name=template.name,
        target_major=new.target_major,
        target_minor=new.target_minor,
        state=RolloutState.DRAFT,
        plan=new.plan.to_json(),
        current_wave=0,
        supersedes=superseded.id if superseded else None,
        created_by=actor,
        created_at=now,
        last_modified_at=now,
    )
    session.add(rollout)
    session.flush()
    sizes = [size for size in wave_sizes(len(chosen), new.plan.waves) if size > 0]
    specs = [
        spec
        for spec, size in zip(new.plan.waves, wave_sizes(len(chosen), new.plan.waves), strict=True)
        if size
    ]
    position = 0
    for number, (size, spec) in enumerate(zip(sizes, specs, strict=True), start=1):
        bake = spec.bake_seconds if spec.bake_seconds is not None else new.plan.bake_seconds
        session.add(
            RolloutWaveRow(
                rollout_id=rollout.id,
                number=number,
                state=RolloutWaveState.PENDING,
                bake_seconds=bake,
                baked_seconds=0.0,
                requires_approval=spec.requires_approval,
            )
        )
        for candidate in chosen[position : position + size]:
            session.add(
                RolloutTargetRow(
                    rollout_id=rollout.id,
                    wave=number,
                    position=position,
                    resource_arn=candidate.arn,
                    resource_kind=candidate.kind,
                    environment_name=candidate.environment_name,
                    service_name=candidate.service_name,
                    instance_name=candidate.instance_name,
                    from_major=candidate.major,
                    from_minor=candidate.minor,
                    state=RolloutTargetState.PENDING,
                    attempts=0,
                )
            )
            position += 1
    record(
        session,
        rollout,
        actor,
        f"Created: {len(chosen)} resources of '{template.name}' to "
        f"{new.target_major}.{new.target_minor} in {len(sizes)} waves "
        f"({', '.join(map(str, sizes))}).",
        now,
    )
    rules = approval_gate.in_force()
    if rules is not None and rules.requester == actor:
        rows = {candidate.arn: candidate.row for candidate in chosen}
        if _judge(session, rollout, rules, waves_of(session, rollout.id), rows.get):
            why = f"Needs a second person's approval: {rollout.approval_reason}."
            record(session, rollout, actor, why, now)
    if superseded is not None:
        superseded.state = RolloutState.SUPERSEDED
        superseded.superseded_by = rollout.id
        superseded.finished_at = now
        record(session, superseded, actor, f"Superseded by rollout {rollout.id}.", now)
    return rollout


def _superseded(session: Session, rollout_id: str | None) -> RolloutRow | None:
    if rollout_id is None:
        return None
    old = find(session, rollout_id, lock=True)
    if old.state not in _SUPERSEDABLE:
        raise Conflict(
            f"The rollout '{old.id}' is {old.state}; only a draft, previewed, approved, paused "
            "or halted rollout can be superseded (pause a running one first)."
        )
    if _in_flight(session, old.id):
        raise Conflict(
            f"The rollout '{old.id}' still has deployments in flight; supersede it once they end."
        )
    return old


def _in_flight(session: Session, rollout_id: str) -> int:
    return (
        session.scalar(
            select(func.count()).where(
                RolloutTargetRow.rollout_id == rollout_id,
                RolloutTargetRow.state.in_(
                    (RolloutTargetState.DEPLOYING, RolloutTargetState.ROLLING_BACK)
                ),
            )
        )
        or 0
    )


def _refuse_taken(session: Session, arns: list[str], superseded: RolloutRow | None) -> None:
    """A resource belongs to one unfinished rollout at a time."""
    for start in range(0, len(arns), 500):
        taken = session.execute(
            select(RolloutTargetRow.resource_arn, RolloutRow.id)
            .join(RolloutRow, RolloutRow.id == RolloutTargetRow.rollout_id)
            .where(
                RolloutTargetRow.resource_arn.in_(arns[start : start + 500]),
                RolloutRow.state.in_(_HOLDING),
            )
        ).first()
        if taken is not None and (superseded is None or taken[1] != superseded.id):
            raise Conflict(
                f"{taken[0]} is already in the unfinished rollout {taken[1]}; supersede that "
                "rollout (supersedes) or wait for it to end."
            )


# --- commands ---------------------------------------------------------------------------------


def targets_of(
    session: Session, rollout_id: str, wave: int | None = None
) -> list[RolloutTargetRow]:
    stmt = select(RolloutTargetRow).where(RolloutTargetRow.rollout_id == rollout_id)
    if wave is not None:
        stmt = stmt.where(RolloutTargetRow.wave == wave)
    return list(session.scalars(stmt.order_by(RolloutTargetRow.position)))


def waves_of(session: Session, rollout_id: str) -> list[RolloutWaveRow]:
    return list(
        session.scalars(
            select(RolloutWaveRow)
            .where(RolloutWaveRow.rollout_id == rollout_id)
            .order_by(RolloutWaveRow.number)
        )
    )


def wave_of(session: Session, rollout_id: str, number: int) -> RolloutWaveRow:
    wave = session.scalars(
        select(RolloutWaveRow).where(
            RolloutWaveRow.rollout_id == rollout_id, RolloutWaveRow.number == number
        )
    ).first()
    if wave is None:
        raise NotFound(f"The rollout '{rollout_id}' has no wave {number}.")
    return wave


def fleet_hash(session: Session, rollout: RolloutRow) -> str:
    """What the rollout's resources look like now: their versions and last deployments. A
    preview is current while this is unchanged."""
    digest = hashlib.sha256(f"{rollout.target_major}.{rollout.target_minor}".encode())
    for target in targets_of(session, rollout.id):
        version, last = _where_now(session, target)
        digest.update(f"|{target.resource_arn}={version}@{last}".encode())
    return digest.hexdigest()


def _where_now(session: Session, target: RolloutTargetRow) -> tuple[str, str | None]:
    row = resource_of(session, target)
    if row is None:
        return "deleted", None
    return f"{row.template_major}.{row.template_minor}", row.last_attempted_deployment_id


def resource_of(
    session: Session, target: RolloutTargetRow, *, lock: bool = False
) -> Environment | ServiceInstance | None:
    if target.resource_kind == DeploymentTargetResourceType.ENVIRONMENT:
        stmt = select(Environment).where(Environment.name == target.environment_name)
        return session.scalars(stmt.with_for_update() if lock else stmt).first()
    instance_stmt = select(ServiceInstance).where(
        ServiceInstance.service_name == target.service_name,
        ServiceInstance.name == target.instance_name,
    )
    return session.scalars(instance_stmt.with_for_update() if lock else instance_stmt).first()


def _expect(rollout: RolloutRow, allowed: Sequence[RolloutState], action: str) -> None:
    if rollout.state not in allowed:
        wanted = ", ".join(sorted(allowed))
        raise Conflict(
            f"The rollout '{rollout.id}' is {rollout.state}; it can be {action} only when {wanted}."
        )


def check_previewable(rollout: RolloutRow) -> None:
    _expect(rollout, (RolloutState.DRAFT, RolloutState.PREVIEWED), "previewed")


def mark_previewed(
    session: Session, rollout_id: str, preview_id: str | None, actor: str, now: datetime
) -> RolloutRow:
    rollout = find(session, rollout_id, lock=True)
    _expect(rollout, (RolloutState.DRAFT, RolloutState.PREVIEWED), "previewed")
    rollout.state = RolloutState.PREVIEWED
    rollout.preview_hash = fleet_hash(session, rollout)
    _judge_again(session, rollout, actor, waves_of(session, rollout.id))
    rollout.preview_id = preview_id
    suffix = f" (fleet preview {preview_id})" if preview_id else ""
    record(session, rollout, actor, f"Previewed{suffix}.", now)
    return rollout


def approve(
    session: Session, rollout_id: str, actor: str, comment: str | None, now: datetime
) -> RolloutRow:
    """Approves a previewed rollout, or the wave it waits for. When an approval rule would
    hold a move of the resources concerned, as the rollout's creator meets the rules, its
    creator may not approve it (Forbidden, as a held deployment's requester): someone else
    must. The rules in effect are the caller's (operations/registry.py), so for the creator
    they are judged afresh; another person's approval keeps what was recorded."""
    rollout = find(session, rollout_id, lock=True)
    if rollout.state in (RolloutState.PAUSED, RolloutState.HALTED) and rollout.current_wave:
        wave = wave_of(session, rollout.id, rollout.current_wave)
        if awaiting_approval(wave):
            if actor == rollout.created_by:
                _refuse_own(session, rollout, actor, wave)
            wave.approved_by = actor
            wave.approved_at = now
            said = f": {comment}" if comment else "."
            record(session, rollout, actor, f"Approved wave {wave.number}{said}", now)
            _resume_locked(session, rollout, actor, now)
            return rollout
    _expect(rollout, (RolloutState.PREVIEWED,), "approved")
    if fleet_hash(session, rollout) != rollout.preview_hash:
        raise Conflict(
            f"The fleet changed since rollout '{rollout.id}' was previewed (a version or a "
            "deployment of one of its resources); preview it again before approving."
        )
    if rollout.preview_id is not None:
        _check_fleet_preview(session, rollout, rollout.preview_id, now)
    if actor == rollout.created_by:
        _refuse_own(session, rollout, actor)
    rollout.state = RolloutState.APPROVED
    rollout.approved_by = actor
    rollout.approved_at = now
    record(session, rollout, actor, "Approved" + (f": {comment}" if comment else "."), now)
    return rollout


def _refuse_own(
    session: Session, rollout: RolloutRow, actor: str, wave: RolloutWaveRow | None = None
) -> None:
    """The creator approves the whole rollout, or ``wave`` it waits for: refused when a rule,
    judged afresh as the creator meets it, would hold one of the resources concerned. Without
    rules in effect (a call from within Baryon), what was recorded decides."""
    waves = [wave] if wave is not None else waves_of(session, rollout.id)
    _judge_again(session, rollout, actor, waves)
    held = sorted({name for one in waves for name in one.approval_rules or ()})
    if not held:
        return
    what, why = "it", rollout.approval_reason
    if wave is not None:
        what, why = f"its wave {wave.number}", f"{_rules_label(held)} would hold its resources"
    raise Forbidden(
        f"{actor} created rollout '{rollout.id}' and may not approve {what} ({why}): someone "
        "else must (cancelling the rollout is allowed)."
    )


def _judge_again(
    session: Session, rollout: RolloutRow, actor: str, waves: list[RolloutWaveRow]
) -> None:
    """When the caller is the rollout's creator, the rules in effect are theirs: what they say
    now of ``waves`` replaces what was recorded (a tag, a rule or a resource changed since)."""
    rules = approval_gate.in_force()
    if actor == rollout.created_by and rules is not None and rules.requester == actor:
        _judge(session, rollout, rules, waves, lambda arn: None)


def _rules_label(names: Sequence[str]) -> str:
    return "approval rule " + ", ".join(names)


Moved = Environment | ServiceInstance


def _judge(
    session: Session,
    rollout: RolloutRow,
    rules: ApprovalPolicy,
    waves: list[RolloutWaveRow],
    known: Callable[[str], Moved | None],
) -> bool:
    """Records which approval rules would hold the move of each resource of ``waves`` to the
    rollout's version, as ``rules`` (its creator's) see the change a wave would start
    (approval_gate.planned_change: what the gate would judge, were the deployment a person's).
    ``known`` gives a resource's row by ARN when the caller has it. Then what the rollout as a
    whole records; True when a rule would hold one of its resources."""
    target_version = (rollout.target_major, rollout.target_minor)
    moves: list[tuple[RolloutTargetRow, approval_gate.Change]] = []
    for wave in waves:
        for target in targets_of(session, rollout.id, wave.number):
            target.approval_rules = None
            row = known(target.resource_arn) or resource_of(session, target)
            if row is None:
                continue  # deleted: the rollout will skip it
            change = approval_gate.planned_change(
                f"rollout/{rollout.id}/{target.position}",
                row,
                target.resource_arn,
                DeploymentOperation.DEPLOY,
                rollout.template_name,
                target_version,
            )
            moves.append((target, change))
    judged = rules.requirements(session, [change for _, change in moves])
    held: dict[int, set[str]] = {}
    for (target, _), requirement in zip(moves, judged, strict=True):
        if requirement is not None:
            target.approval_rules = list(requirement.rules)
            held.setdefault(target.wave, set()).update(requirement.rules)
    for wave in waves:
        wave.approval_rules = sorted(held[wave.number]) if wave.number in held else None
    session.flush()
    return _summarize(session, rollout)


def _summarize(session: Session, rollout: RolloutRow) -> bool:
    """The rollout's own record of what its waves' say: which rules, and why."""
    names = sorted(
        {name for wave in waves_of(session, rollout.id) for name in wave.approval_rules or ()}
    )
    if not names:
        rollout.approval_rules = None
        rollout.approval_reason = None
        return False
    held = RolloutTargetRow.approval_rules.is_not(None)
    count = session.scalar(
        select(func.count()).where(RolloutTargetRow.rollout_id == rollout.id, held)
    )
    first = session.scalars(
        select(RolloutTargetRow)
        .where(RolloutTargetRow.rollout_id == rollout.id, held)
        .order_by(RolloutTargetRow.position)
        .limit(1)
    ).one()
    total = session.scalar(select(func.count()).where(RolloutTargetRow.rollout_id == rollout.id))
    rollout.approval_rules = names
    rollout.approval_reason = (
        f"{_rules_label(names)} would hold {count} of its {total} resources, first "
        f"{target_label(first)}, as {rollout.created_by} meets the rules"
    )
    return True


def _check_fleet_preview(
    session: Session, rollout: RolloutRow, preview_id: str, now: datetime
) -> None:
    """What is approved is what runs: the rollout's fleet preview must be planned, complete
    and still true of the fleet."""
    preview = fleet_previews.find(session, preview_id)
    if preview.status == fleet_previews.PreviewStatus.PLANNING:
        raise Conflict(
            f"The fleet preview '{preview_id}' of rollout '{rollout.id}' is still planning; "
            "approve the rollout once it is READY."
        )
    items = fleet_previews.items_of(session, preview_id)
    failed = [item for item in items if item.status == fleet_previews.ItemStatus.FAILED]
    if failed:
        raise Conflict(
            f"The fleet preview '{preview_id}' could not plan {len(failed)} resource(s) (first: "
            f"{fleet_previews.label(failed[0])}: {failed[0].problem}); fix them and preview "
            "the rollout again (or supersede it with a rollout that leaves them out)."
        )
    reason = fleet_previews.stale_reason(session, preview, items, now)
    if reason is not None:
        raise Conflict(
            f"The fleet preview '{preview_id}' of rollout '{rollout.id}' is stale: {reason}. "
            "Preview the rollout again."
        )


def start(session: Session, rollout_id: str, actor: str, now: datetime) -> RolloutRow:
    """RUNNING from now: each resource's last deployment is its baseline (one started since
    is a person's, and the rollout leaves that resource alone)."""
    rollout = find(session, rollout_id, lock=True)
    _expect(rollout, (RolloutState.APPROVED,), "started")
    for target in targets_of(session, rollout.id):
        row = resource_of(session, target)
        target.baseline_deployment_id = row.last_attempted_deployment_id if row else None
    rollout.state = RolloutState.RUNNING
    rollout.started_at = now
    rollout.current_wave = 1
    first = wave_of(session, rollout.id, 1)
    first.state = RolloutWaveState.DEPLOYING
    first.started_at = now
    record(session, rollout, actor, "Started: wave 1 (the canary) deploys.", now)
    ask_for_look(session, rollout, now)
    return rollout


def stop_clocks(session: Session, rollout: RolloutRow, now: datetime) -> None:
    for wave in waves_of(session, rollout.id):
        if wave.clock_started_at is not None:
            wave.baked_seconds += max((now - wave.clock_started_at).total_seconds(), 0.0)
            wave.clock_started_at = None


def pause(
    session: Session, rollout_id: str, actor: str, reason: str | None, now: datetime
) -> RolloutRow:
    rollout = find(session, rollout_id, lock=True)
    _expect(rollout, (RolloutState.RUNNING,), "paused")
    pause_locked(session, rollout, actor, reason or "paused by hand", now)
    return rollout


def pause_locked(
    session: Session, rollout: RolloutRow, actor: str, reason: str, now: datetime
) -> None:
    stop_clocks(session, rollout, now)
    rollout.state = RolloutState.PAUSED
    rollout.state_message = reason
    if rollout.paused_at is None:
        rollout.paused_at = now
    record(session, rollout, actor, f"Paused: {reason}.", now)
    ask_for_look(session, rollout, now)  # deployments in flight are still followed


def resume(session: Session, rollout_id: str, actor: str, now: datetime) -> RolloutRow:
    """A paused rollout's clocks run again; a halted wave starts over: what failed or was
    rolled back deploys again, and its gates are checked afresh."""
    rollout = find(session, rollout_id, lock=True)
    _expect(rollout, (RolloutState.PAUSED, RolloutState.HALTED), "resumed")
    wave = wave_of(session, rollout.id, rollout.current_wave)
    if awaiting_approval(wave):
        raise Conflict(
            f"Wave {wave.number} of rollout '{rollout.id}' waits for approval: approve it "
            "(ApproveRollout) to let it start, or roll back or cancel the rollout."
        )
    _resume_locked(session, rollout, actor, now)
    return rollout


def end_pause(session: Session, rollout: RolloutRow, now: datetime) -> None:
    """The pause is over (resumed, rolled back or cancelled): each deployment in flight gets
    the time it spent paused added to its deadline, so a pause never makes one late."""
    if rollout.paused_at is None:
        return
    paused = max(now - rollout.paused_at, timedelta(0))
    rollout.paused_at = None
    for target in targets_of(session, rollout.id):
        if target.state == RolloutTargetState.DEPLOYING and target.deadline_at is not None:
            target.deadline_at += paused


def _resume_locked(session: Session, rollout: RolloutRow, actor: str, now: datetime) -> None:
    end_pause(session, rollout, now)
    wave = wave_of(session, rollout.id, rollout.current_wave)
    if rollout.state == RolloutState.HALTED or wave.state == RolloutWaveState.PENDING:
        for target in targets_of(session, rollout.id, wave.number):
            if target.state in (
                RolloutTargetState.FAILED,
                RolloutTargetState.ROLLED_BACK,
                RolloutTargetState.CANCELLED,
            ):
                target.state = RolloutTargetState.PENDING
                target.reason = None
            if target.state not in (
                RolloutTargetState.DEPLOYING,
                RolloutTargetState.ROLLING_BACK,
            ):
                # A person looked at it: past its deadline no longer counts once it ended.
                target.past_deadline = False
        again = " again" if wave.started_at is not None else ""
        if wave.started_at is None:
            wave.started_at = now
        wave.state = RolloutWaveState.DEPLOYING
        wave.baked_seconds = 0.0
        wave.clock_started_at = None
        message = f"Resumed: wave {wave.number} deploys{again}."
    else:
        if wave.state == RolloutWaveState.BAKING:
            wave.clock_started_at = now
        message = "Resumed."
    rollout.state = RolloutState.RUNNING
    rollout.state_message = None
    record(session, rollout, actor, message, now)
    ask_for_look(session, rollout, now)


def cancel(
    session: Session, rollout_id: str, actor: str, reason: str | None, now: datetime
) -> RolloutRow:
    rollout = find(session, rollout_id, lock=True)
    _expect(rollout, tuple(_HOLDING - {RolloutState.ROLLING_BACK}), "cancelled")
    stop_clocks(session, rollout, now)
    end_pause(session, rollout, now)
    for target in targets_of(session, rollout.id):
        if target.state == RolloutTargetState.PENDING:
            target.state = RolloutTargetState.CANCELLED
            target.reason = "the rollout was cancelled"
    for wave in waves_of(session, rollout.id):
        if wave.state in (
            RolloutWaveState.PENDING,
            RolloutWaveState.DEPLOYING,
            RolloutWaveState.BAKING,
        ):
            wave.state = RolloutWaveState.CANCELLED
            wave.finished_at = now
    rollout.state = RolloutState.CANCELLED
    rollout.state_message = reason
    rollout.finished_at = now
    record(session, rollout, actor, "Cancelled" + (f": {reason}" if reason else "."), now)
    return rollout


@dataclass(frozen=True)
class TargetRollback:
    """One resource a rollout's rollback would take back, as planned now (R4's plan for it):
    the rollout's deployment it reverses and the last known good it goes back to, with the
    resource's own rollback token, or the problem that keeps it where it is."""

    target: RolloutTargetRow
    reverses: str | None
    back_to: rollbacks.RollbackTarget | None
    token: str | None = None
    problem: str | None = None


def _check_rollback(session: Session, rollout: RolloutRow, wave_number: int | None) -> None:
    _expect(
        rollout,
        (RolloutState.RUNNING, RolloutState.PAUSED, RolloutState.HALTED, RolloutState.SUCCEEDED),
        "rolled back",
    )
    if wave_number is not None:
        wave = wave_of(session, rollout.id, wave_number)
        if wave.number != rollout.current_wave and rollout.state != RolloutState.SUCCEEDED:
            raise Conflict(
                f"Wave {wave.number} is not the rollout's current wave ({rollout.current_wave}); "
                "roll back the current wave, or the whole rollout."
            )


def _rollback_scope(
    session: Session, rollout: RolloutRow, wave_number: int, scope: str
) -> list[RolloutTargetRow]:
    """What a rollback of wave ``wave_number`` (scope WAVE) or of it and every earlier wave
    that deployed (ALL) takes back, newest wave first: the resources the rollout moved, or is
    moving (those go back once their deployment ends)."""
    numbers = [wave_number]
    if scope == "ALL":
        numbers += [
            wave.number
            for wave in reversed(waves_of(session, rollout.id))
            if wave.number < wave_number and wave.state == RolloutWaveState.DONE
        ]
    moved = (RolloutTargetState.SUCCEEDED, RolloutTargetState.DEPLOYING)
    return [
        target
        for number in numbers
        for target in targets_of(session, rollout.id, number)
        if target.state in moved
    ]


def plan_rollback(
    session: Session, arns: Arns, rollout_id: str, wave_number: int | None
) -> tuple[RolloutRow, list[TargetRollback], str]:
    """What `rollback` of one wave (or of the whole rollout) would take back, resource by
    resource, and the token that starts exactly that: R4's per-resource tokens, over the
    rollout's state and current wave, so any deployment of these resources or any move of
    the rollout since makes it stale. Renders nothing (operations/rollouts.py adds the
    rendered difference per resource)."""
    rollout = find(session, rollout_id)
    _check_rollback(session, rollout, wave_number)
    number = wave_number if wave_number is not None else rollout.current_wave
    scope = "WAVE" if wave_number is not None else "ALL"
    planned = [
        _plan_target(session, arns, target)
        for target in _rollback_scope(session, rollout, number, scope)
    ]
    digest = hashlib.sha256(
        f"{rollout.id}|{wave_number}|{rollout.state}|{rollout.current_wave}".encode()
    )
    for one in planned:
        digest.update(
            f"\n{one.target.resource_arn}|{one.reverses}|{one.token}|{one.problem}".encode()
        )
    return rollout, planned, digest.hexdigest()[:_ROLLBACK_TOKEN_LENGTH]


def _plan_target(session: Session, arns: Arns, target: RolloutTargetRow) -> TargetRollback:
    row = resource_of(session, target)
    if row is None:
        return TargetRollback(target, target.deployment_id, None, problem="it was deleted")
    try:
        planned = rollbacks.plan_rollback(session, arns, row, target.deployment_id)
    except DomainError as exc:
        back_to = rollbacks.last_good(session, row, target.deployment_id)
        return TargetRollback(target, target.deployment_id, back_to, problem=exc.message)
    return TargetRollback(target, planned.reverses.id, planned.target, planned.token)


def rollback(
    session: Session,
    arns: Arns,
    rollout_id: str,
    wave_number: int | None,
    actor: str,
    now: datetime,
    *,
    token: str,
) -> RolloutRow:
    """Takes one wave (or every wave that deployed, newest first) back to where its
    resources were: new deployments, started by the rollout job. ``token``: the preview's
    (`plan_rollback`); a different one means something moved since (Conflict: preview
    again)."""
    find(session, rollout_id, lock=True)
    rollout, _, current = plan_rollback(session, arns, rollout_id, wave_number)
    if token != current:
        raise Conflict(
            f"The rollback preview of rollout '{rollout.id}' is stale (one of its resources "
            "was deployed, or the rollout moved on, since): preview the rollback again."
        )
    stop_clocks(session, rollout, now)
    if wave_number is not None:
        wave = wave_of(session, rollout.id, wave_number)
        begin_rollback(session, rollout, wave, "WAVE", actor, f"wave {wave.number} by hand", now)
    else:
        wave = wave_of(session, rollout.id, rollout.current_wave)
        begin_rollback(session, rollout, wave, "ALL", actor, "the whole rollout by hand", now)
    rollout.finished_at = None
    return rollout


def begin_rollback(
    session: Session,
    rollout: RolloutRow,
    wave: RolloutWaveRow,
    scope: str,
    actor: str,
    why: str,
    now: datetime,
) -> None:
    """Starts rolling back (the rollout job starts the deployments). What each resource goes
    back to is recorded first, so an automatic rollback (a failed gate, nobody to ask) is on
    the record as a person's previewed one is. A person's rollback is judged by the rules in
    effect, theirs: which resources' rollback deployments will wait for someone else's
    approval. The engine's own acts under the rollout's approval and asks nobody."""
    end_pause(session, rollout, now)
    for target in targets_of(session, rollout.id, wave.number):
        if target.state == RolloutTargetState.PENDING:
            target.state = RolloutTargetState.CANCELLED
            target.reason = "its wave was rolled back before it deployed"
    going = _rollback_scope(session, rollout, wave.number, scope)
    for target in going:
        target.rollback_approval_rules = None
        record(session, rollout, actor, _going_back(session, target), now)
    rules = approval_gate.in_force()
    if actor == ENGINE or rules is None or rules.requester != actor:
        rules = None  # the engine's own, or a call from within Baryon: nobody's rules to meet
    held = _judge_rollback(session, rollout, rules, going) if rules is not None else []
    rollout.rollback_requested_by = None if actor == ENGINE else actor
    rollout.rollback_approval_hours = (
        rules.expiry.total_seconds() / 3600 if rules is not None else None
    )
    rollout.state = RolloutState.ROLLING_BACK
    rollout.rollback_scope = scope
    rollout.current_wave = wave.number
    wave.state = RolloutWaveState.ROLLING_BACK
    wave.clock_started_at = None
    record(session, rollout, actor, f"Rolling back {why}.", now)
    if actor == ENGINE:
        approved = f" (approved by {rollout.approved_by})" if rollout.approved_by else ""
        record(
            session,
            rollout,
            actor,
            f"The rollback acts under the rollout's approval{approved}: it restores the last "
            "approved state without waiting for anyone.",
            now,
        )
    elif held:
        names = sorted({name for target in held for name in target.rollback_approval_rules or ()})
        record(
            session,
            rollout,
            actor,
            f"{_rules_label(names)} would hold {len(held)} of its {len(going)} rollback "
            f"deployments as {actor} meets the rules, first {target_label(held[0])}: each waits "
            "for someone else's approval once it starts (baryon approvals approve "
            "DEPLOYMENT_ID, or the portal's Approvals page).",
            now,
        )
    ask_for_look(session, rollout, now)


def _judge_rollback(
    session: Session, rollout: RolloutRow, rules: ApprovalPolicy, going: list[RolloutTargetRow]
) -> list[RolloutTargetRow]:
    """Records which approval rules would hold each resource's move back to its last known
    good, as ``rules`` (the asker's) see the change its rollback deployment would be; returns
    the resources held."""
    moves: list[tuple[RolloutTargetRow, approval_gate.Change]] = []
    for target in going:
        row = resource_of(session, target)
        if row is None or target.deployment_id is None:
            continue  # deleted, or never deployed: nothing goes back
        back = rollbacks.last_good(session, row, target.deployment_id)
        if back is None:
            continue  # no rollback possible: the rollout job says so when it gets there
        change = approval_gate.planned_change(
            f"rollout/{rollout.id}/{target.position}/rollback",
            row,
            target.resource_arn,
            DeploymentOperation.DEPLOY,
            rollout.template_name,
            (back.major, back.minor),
        )
        moves.append((target, change))
    judged = rules.requirements(session, [change for _, change in moves])
    held: list[RolloutTargetRow] = []
    for (target, _), requirement in zip(moves, judged, strict=True):
        if requirement is not None:
            target.rollback_approval_rules = list(requirement.rules)
            held.append(target)
    return held


def rollback_policy(rollout: RolloutRow, target: RolloutTargetRow) -> approval_gate.Recorded | None:
    """What holds ``target``'s rollback deployment: the rules that held it when a person asked
    for the rollback (``begin_rollback``), on that person's behalf; None: nothing holds it."""
    names = target.rollback_approval_rules
    if not names or rollout.rollback_requested_by is None:
        return None
    return approval_gate.Recorded(
        requester=rollout.rollback_requested_by,
        expiry=timedelta(hours=rollout.rollback_approval_hours or 0.0),
        requirement=approval_gate.ApprovalRequirement(tuple(names), _rules_label(names)),
    )


def _going_back(session: Session, target: RolloutTargetRow) -> str:
    """The rollback preview of one resource, as the event says it."""
    head = f"Rollback preview, wave {target.wave}: {target_label(target)}"
    if target.state == RolloutTargetState.DEPLOYING:
        return f"{head} goes back once deployment {target.deployment_id} ends."
    row = resource_of(session, target)
    back_to = (
        rollbacks.last_good(session, row, target.deployment_id)
        if row is not None and target.deployment_id
        else None
    )
    if back_to is None:
        return f"{head} has no earlier successful deployment to go back to: it stays as it is."
    return (
        f"{head} goes back from deployment {target.deployment_id} to version "
        f"{back_to.version} with the spec of deployment {back_to.deployment_id}."
    )


def target_label(target: RolloutTargetRow) -> str:
    if target.resource_kind == DeploymentTargetResourceType.ENVIRONMENT:
        return f"environment '{target.environment_name}'"
    return f"service instance '{target.service_name}/{target.instance_name}'"
