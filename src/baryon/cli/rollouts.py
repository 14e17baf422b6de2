"""``baryon rollouts``: staged fleet rollouts - plan one, preview, approve and start it, watch
it, and steer it (pause, resume, cancel, roll back a wave or all of it).

The commands are API clients of the baryon model's rollout operations, so they act as
whoever the CLI's key belongs to and are authorized and audited like any other door.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import click

from baryon.cli.api_clients import ApiClients, call
from baryon.cli.options import OutputFormat, client_options, output_option
from baryon.cli.output import Column, emit, print_table
from baryon.service_models.baryon import RolloutState

_COLUMNS = (
    Column("Id", "id"),
    Column("Name", "name"),
    Column("Template", "templateName"),
    Column("To", "targetTemplateVersion"),
    Column("State", "state"),
    Column("Wave", "wave"),
    Column("Done", "done"),
)
_TARGET_COLUMNS = (
    Column("Wave", "wave"),
    Column("Resource", "resource"),
    Column("From", "fromTemplateVersion"),
    Column("State", "state"),
    Column("Reason", "reason"),
)
_FINISHED = {"SUCCEEDED", "CANCELLED", "SUPERSEDED", "ROLLED_BACK"}
# States a person must act on: watching stops there too.
_WAITING = {"PAUSED", "HALTED", "DRAFT", "PREVIEWED", "APPROVED"}


@click.group("rollouts")
def rollouts() -> None:
    """Staged rollouts of a template version across the fleet, in waves with health gates."""


def _row(rollout: dict[str, Any]) -> dict[str, Any]:
    counts = rollout["counts"]
    return {
        **rollout,
        "wave": f"{rollout['currentWave']}/{rollout['waveCount']}",
        "done": f"{counts['succeeded']}/{rollout['targetCount']}",
    }


def _wave(text: str) -> dict[str, Any]:
    """``3``, ``10%``, with ``:bake-seconds`` optionally: ``3:0``, ``50%:300``."""
    size, _, bake = text.partition(":")
    wave: dict[str, Any] = {}
    try:
        if size.endswith("%"):
            wave["percent"] = int(size[:-1])
        elif size not in ("", "rest"):
            wave["count"] = int(size)
        if bake:
            wave["bakeSeconds"] = int(bake)
    except ValueError as exc:
        raise click.BadParameter(
            f"'{text}' is not a wave: a count, a percentage or 'rest', and optionally "
            ":bake-seconds (3, 25%, rest:600)."
        ) from exc
    return wave


@rollouts.command("create")
@click.option("--name", required=True, help="A name for people.")
@click.option(
    "--template-type",
    type=click.Choice(["environment", "service"], case_sensitive=False),
    default="service",
    show_default=True,
)
@click.option("--template", "template_name", required=True, help="The template's name.")
@click.option("--to", "version", required=True, help="The target version: major.minor.")
@click.option(
    "--wave",
    "waves",
    multiple=True,
    required=True,
    help="A wave, in order (the first is the canary): a count, a percentage or 'rest', "
    "optionally :bake-seconds. Repeat: --wave 3 --wave 50% --wave rest. The last takes what "
    "remains.",
)
@click.option("--from-version", "current", multiple=True, help="Only resources on this version.")
@click.option("--environment", "environments", multiple=True, help="Only in this environment.")
@click.option("--service", "services", multiple=True, help="Only this service's instances.")
@click.option("--tag", "tags", multiple=True, help="Only resources tagged KEY=VALUE.")
@click.option("--concurrency", type=int, default=None, help="Deployments in flight at once.")
@click.option("--tolerance", type=int, default=None, help="Failed deployments tolerated.")
@click.option(
    "--tolerance-mode", type=click.Choice(["strict", "soft"], case_sensitive=False), default=None
)
@click.option(
    "--tolerance-scope", type=click.Choice(["wave", "overall"], case_sensitive=False), default=None
)
@click.option(
    "--alarm", "alarms", multiple=True, help="A CloudWatch alarm watched after each wave."
)
@click.option("--bake", "bake_seconds", type=int, default=None, help="Seconds each wave bakes.")
@click.option(
    "--on-failure",
    type=click.Choice(["halt", "rollback-wave"], case_sensitive=False),
    default=None,
    help="What a failed wave does (default: halt).",
)
@click.option("--supersedes", default=None, help="The rollout this one replaces.")
@click.option(
    "--wave-approval",
    "approval_waves",
    type=int,
    multiple=True,
    help="Wave N (2 or later) starts only once a person approves it (baryon rollouts "
    "approve); the rollout pauses for it. Repeatable.",
)
@click.option(
    "--target-deadline",
    "target_deadline",
    type=int,
    default=None,
    help="Seconds a deployment may run before it counts as failed for the tolerance.",
)
@output_option
@client_options
def create(
    name: str,
    template_type: str,
    template_name: str,
    version: str,
    waves: tuple[str, ...],
    current: tuple[str, ...],
    environments: tuple[str, ...],
    services: tuple[str, ...],
    tags: tuple[str, ...],
    concurrency: int | None,
    tolerance: int | None,
    tolerance_mode: str | None,
    tolerance_scope: str | None,
    alarms: tuple[str, ...],
    bake_seconds: int | None,
    on_failure: str | None,
    supersedes: str | None,
    approval_waves: tuple[int, ...],
    target_deadline: int | None,
    output: OutputFormat,
) -> None:
    """Plan a rollout (DRAFT): what the selection matches now, split into waves."""
    major, dot, minor = version.partition(".")
    if not dot:
        raise click.BadParameter("give the target version as major.minor", param_hint="--to")
    selection: dict[str, Any] = {}
    if current:
        selection["currentVersions"] = list(current)
    if environments:
        selection["environments"] = list(environments)
    if services:
        selection["services"] = list(services)
    if tags:
        pairs = [tag.partition("=") for tag in tags]
        if any(not sep for _, sep, _ in pairs):
            raise click.BadParameter("a tag filter is KEY=VALUE", param_hint="--tag")
        selection["tags"] = [{"key": key, "value": value} for key, _, value in pairs]
    request: dict[str, Any] = {
        "name": name,
        "templateType": template_type.upper(),
        "templateName": template_name,
        "targetMajorVersion": major,
        "targetMinorVersion": minor,
        "waves": [_wave(wave) for wave in waves],
    }
    for number in approval_waves:
        if not 1 <= number <= len(waves):
            raise click.BadParameter(
                f"there is no wave {number} (waves 1 to {len(waves)})", param_hint="--wave-approval"
            )
        request["waves"][number - 1]["requiresApproval"] = True
    if target_deadline is not None:
        request["targetDeadlineSeconds"] = target_deadline
    if selection:
        request["selection"] = selection
    if concurrency is not None:
        request["concurrency"] = concurrency
    if tolerance is not None or tolerance_mode or tolerance_scope:
        request["failureTolerance"] = {"count": tolerance or 0}
        if tolerance_mode:
            request["failureTolerance"]["mode"] = tolerance_mode.upper()
        if tolerance_scope:
            request["failureTolerance"]["scope"] = tolerance_scope.upper()
    if alarms:
        request["alarmNames"] = list(alarms)
    if bake_seconds is not None:
        request["bakeSeconds"] = bake_seconds
    if on_failure:
        request["onFailure"] = on_failure.upper().replace("-", "_")
    if supersedes:
        request["supersedes"] = supersedes
    rollout = call(ApiClients().baryon.create_rollout, **request)["rollout"]
    emit(output, rollout, lambda: _say(rollout))


def _say(rollout: dict[str, Any]) -> None:
    message = f": {rollout['stateMessage']}" if rollout.get("stateMessage") else ""
    click.echo(f"rollout {rollout['id']} {rollout['state']}{message}")


@rollouts.command("list")
@click.option(
    "--state",
    type=click.Choice([state.value for state in RolloutState], case_sensitive=False),
    default=None,
)
@click.option("--template", "template_name", default=None, help="Only this template's.")
@click.option("--limit", default=100, show_default=True, help="At most this many rollouts.")
@output_option
@client_options
def list_rollouts(
    state: str | None, template_name: str | None, limit: int, output: OutputFormat
) -> None:
    """Rollouts, newest first."""
    baryon = ApiClients().baryon
    request: dict[str, Any] = {}
    if state:
        request["state"] = state.upper()
    if template_name:
        request["templateName"] = template_name
    found: list[dict[str, Any]] = []
    token = None
    while len(found) < limit:
        page = call(baryon.list_rollouts, **request, **({"nextToken": token} if token else {}))
        found.extend(page["rollouts"])
        token = page.get("nextToken")
        if not token:
            break
    found = found[:limit]
    emit(output, {"rollouts": found}, lambda: print_table([_row(r) for r in found], _COLUMNS))


def _targets(rollout_id: str) -> list[dict[str, Any]]:
    baryon = ApiClients().baryon
    found: list[dict[str, Any]] = []
    token = None
    while True:
        page = call(
            baryon.list_rollout_targets, id=rollout_id, **({"nextToken": token} if token else {})
        )
        found.extend(page["targets"])
        token = page.get("nextToken")
        if not token:
            return found


def _show_text(answer: dict[str, Any], targets: list[dict[str, Any]] | None) -> None:
    rollout = answer["rollout"]
    counts = rollout["counts"]
    click.echo(f"rollout   {rollout['id']} ({rollout['name']})")
    click.echo(
        f"template  {rollout['templateName']} -> {rollout['targetTemplateVersion']}, "
        f"{rollout['targetCount']} resources"
    )
    message = f" ({rollout['stateMessage']})" if rollout.get("stateMessage") else ""
    click.echo(f"state     {rollout['state']}{message}")
    click.echo("counts    " + ", ".join(f"{key} {value}" for key, value in counts.items() if value))
    if rollout.get("approvalRules"):
        click.echo(
            f"approval  someone other than {rollout['createdBy']} approves it: "
            f"{rollout['approvalReason']}"
        )
    for wave in answer["waves"]:
        canary = " canary" if wave["number"] == 1 else ""
        approval = ""
        if wave.get("approvedBy"):
            approval = f", approved by {wave['approvedBy']}"
        elif wave.get("requiresApproval"):
            approval = ", needs approval"
        if wave.get("approvalRules"):
            approval += f" (approval rule {', '.join(wave['approvalRules'])})"
        click.echo(
            f"wave {wave['number']}{canary:7} {wave['state']:12} {wave['targetCount']} resources, "
            f"baked {wave['bakedSeconds']}/{wave['bakeSeconds']} s{approval}"
        )
    for gate in reversed(answer["gates"][:10]):
        click.echo(
            f"gate      wave {gate['wave']} {gate['gate']} {gate['verdict']}: {gate['evidence']}"
        )
    for event in reversed(answer["events"][:10]):
        click.echo(f"event     {event['at']} {event['actor']}: {event['message']}")
    if targets is not None:
        rows = [
            {
                **target,
                "resource": "/".join(
                    part
                    for part in (
                        target["environmentName"],
                        target.get("serviceName"),
                        target.get("serviceInstanceName"),
                    )
                    if part
                ),
            }
            for target in targets
        ]
        print_table(rows, _TARGET_COLUMNS)


@rollouts.command("show")
@click.argument("rollout_id")
@click.option("--targets", "with_targets", is_flag=True, help="List every resource too.")
@click.option(
    "--watch",
    is_flag=True,
    help="Print it again every few seconds until it finishes or waits for a person.",
)
@click.option("--interval", default=3.0, show_default=True, help="Seconds between --watch looks.")
@output_option
@client_options
def show(
    rollout_id: str, with_targets: bool, watch: bool, interval: float, output: OutputFormat
) -> None:
    """A rollout: its waves, latest gate verdicts and events (and its resources)."""
    baryon = ApiClients().baryon
    while True:
        answer = call(baryon.get_rollout, id=rollout_id)
        answer.pop("ResponseMetadata", None)
        targets = _targets(rollout_id) if with_targets else None
        document = {**answer, "targets": targets} if targets is not None else answer
        emit(output, document, lambda a=answer, t=targets: _show_text(a, t))  # type: ignore[misc]
        state = answer["rollout"]["state"]
        if not watch or state in _FINISHED or state in _WAITING:
            return
        time.sleep(interval)
        click.echo()


def _command(operation: str, output: OutputFormat, **request: Any) -> None:
    rollout = call(getattr(ApiClients().baryon, operation), **request)["rollout"]
    emit(output, rollout, lambda: _say(rollout))


@rollouts.command("preview")
@click.argument("rollout_id")
@output_option
@client_options
def preview(rollout_id: str, output: OutputFormat) -> None:
    """Preview it (a fleet preview of every resource); approval waits for it."""
    _command("preview_rollout", output, id=rollout_id)


@rollouts.command("approve")
@click.argument("rollout_id")
@click.option("--comment", default=None, help="Why, for the record.")
@click.option("--start", "start_now", is_flag=True, help="Start it at once.")
@output_option
@client_options
def approve(rollout_id: str, comment: str | None, start_now: bool, output: OutputFormat) -> None:
    """Approve a previewed rollout (immutable from now on; --start runs it), or the wave a
    paused rollout waits for approval of (it deploys at once)."""
    request: dict[str, Any] = {"id": rollout_id}
    if comment:
        request["comment"] = comment
    if not start_now:
        _command("approve_rollout", output, **request)
        return
    call(ApiClients().baryon.approve_rollout, **request)
    _command("start_rollout", output, id=rollout_id)


@rollouts.command("start")
@click.argument("rollout_id")
@output_option
@client_options
def start(rollout_id: str, output: OutputFormat) -> None:
    """Start an approved rollout: its canary wave deploys."""
    _command("start_rollout", output, id=rollout_id)


@rollouts.command("pause")
@click.argument("rollout_id")
@click.option("--reason", default=None)
@output_option
@client_options
def pause(rollout_id: str, reason: str | None, output: OutputFormat) -> None:
    """Pause: nothing new starts, every clock stops; deployments in flight finish."""
    _command("pause_rollout", output, id=rollout_id, **({"reason": reason} if reason else {}))


@rollouts.command("resume")
@click.argument("rollout_id")
@output_option
@client_options
def resume(rollout_id: str, output: OutputFormat) -> None:
    """Resume a paused or halted rollout (a halted wave deploys again)."""
    _command("resume_rollout", output, id=rollout_id)


@rollouts.command("cancel")
@click.argument("rollout_id")
@click.option("--reason", default=None)
@output_option
@client_options
def cancel(rollout_id: str, reason: str | None, output: OutputFormat) -> None:
    """Cancel: nothing more starts; what it already moved stays."""
    _command("cancel_rollout", output, id=rollout_id, **({"reason": reason} if reason else {}))


@rollouts.command("rollback")
@click.argument("rollout_id")
@click.option("--wave", type=int, default=None, help="Only this wave (the current one).")
@click.option("--yes", is_flag=True, help="Do not ask before rolling back.")
@output_option
@client_options
def rollback(rollout_id: str, wave: int | None, yes: bool, output: OutputFormat) -> None:
    """Preview the rollback of the current wave (--wave) or of every wave that deployed,
    newest first, then roll back exactly what was shown (asking first, unless --yes)."""
    baryon = ApiClients().baryon
    where: dict[str, Any] = {"id": rollout_id, **({"wave": wave} if wave is not None else {})}
    shown = call(baryon.preview_rollout_rollback, **where)
    shown.pop("ResponseMetadata", None)
    if output == OutputFormat.TEXT:
        _show_rollback(shown)
    elif not yes:  # scripts read one document on stdout; a person asked reads it here
        _show_rollback(shown, err=True)
    if not yes:
        click.confirm("Roll these back?", abort=True, err=True)
    answer = call(baryon.rollback_rollout, **where, previewToken=shown["previewToken"])
    emit(
        output,
        {"preview": shown, "rollout": answer["rollout"]},
        lambda: click.echo(f"{rollout_id} {answer['rollout']['state']}"),
    )


def _show_rollback(preview: dict[str, Any], *, err: bool = False) -> None:
    """Each resource that would go back: from where to where, what changes, what is lost."""
    echo = functools.partial(click.echo, err=err)
    if not preview["resources"]:
        echo("Nothing to roll back: no resource of this scope was moved.")
    for item in preview["resources"]:
        name = item.get("environmentName") if item["resourceType"] == "ENVIRONMENT" else None
        name = name or f"{item.get('serviceName')}/{item.get('serviceInstanceName')}"
        now = ".".join(
            item[key]
            for key in ("currentTemplateMajorVersion", "currentTemplateMinorVersion")
            if key in item
        )
        if "targetDeploymentId" in item:
            back = f"{item['targetTemplateMajorVersion']}.{item['targetTemplateMinorVersion']}"
            echo(
                f"wave {item['wave']}  {name}: {now or '?'} -> {back} (deployment "
                f"{item['targetDeploymentId']}, taking back {item.get('reversesDeploymentId')})"
            )
        else:
            echo(f"wave {item['wave']}  {name}: nothing to go back to")
        if item.get("problem"):
            echo(f"    not now: {item['problem']}")
        for path in item["changedFiles"]:
            echo(f"    file changes {path}")
        for loss in item["losses"]:
            echo(f"    cannot undo  {loss['message']}")
    echo(f"token {preview['previewToken']}")
