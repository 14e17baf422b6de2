"""``baryon template validate`` and ``baryon template render``: a bundle checked, and
rendered for a spec, on this machine with no server (Proton's roadmap #18 and #60).

Both give the answers the server would: ``validate`` runs registration's checks, ``render``
checks the spec as CreateEnvironment and CreateService do and renders as a deployment does
(operations/template_bundles.py). What a deployment reads from the store (the environment's
outputs, names, the account) is given with options instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from baryon.cli.failures import CliFailure, ExitStatus
from baryon.cli.options import OutputFormat, output_option, settings_from
from baryon.cli.output import emit
from baryon.cli.template_bundle import (
    BundleInput,
    BundleKindChoice,
    checked_bundle,
    one_line,
    read_bundle_input,
)
from baryon.operations.errors import InvalidInput
from baryon.operations.template_bundles import (
    CheckedBundle,
    RenderedResource,
    RenderFailed,
    RenderKind,
    StandIns,
    render_bundle,
)

# A spec is at most 51,200 characters (Proton's quota, checked by the spec reader); reading
# a little more lets that check say so, and a huge file is never read whole.
_MAX_SPEC_READ = 256 * 1024
_MAX_OUTPUTS_READ = 1024 * 1024
_FOLDER_OF = {
    RenderKind.ENVIRONMENT: "environment",
    RenderKind.SERVICE_INSTANCE: "instances",
    RenderKind.PIPELINE: "pipeline",
}


@dataclass(frozen=True)
class Validated:
    """A bundle that would register (``validate --output json``)."""

    bundle: Path
    kind: str
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Rendered:
    """What ``render --output json`` prints: every resource's files, and where they were
    written (with --out)."""

    resources: tuple[RenderedResource, ...]
    written: tuple[Path, ...]


bundle_argument = click.argument(
    "bundle", type=click.Path(exists=True, path_type=Path), metavar="BUNDLE_DIR_OR_ARCHIVE"
)
kind_option = click.option(
    "--kind",
    type=click.Choice([kind.value for kind in BundleKindChoice]),
    default=None,
    help="Check it as this kind of template (default: what its schema declares).",
)
customer_managed_option = click.option(
    "--customer-managed",
    is_flag=True,
    help="The template's provisioning (environments) or pipeline provisioning (services) "
    "is CUSTOMER_MANAGED.",
)


@click.command("validate")
@bundle_argument
@kind_option
@customer_managed_option
@output_option
def validate(bundle: Path, kind: str | None, customer_managed: bool, output: OutputFormat) -> None:
    """Check a bundle folder or archive as registration would, without a server.

    Exit status 0 when it would register; otherwise one line names the file, line and
    field at fault (exit status 9).
    """
    settings = settings_from()
    given = read_bundle_input(bundle, settings.bundle_limits)
    chosen = _kind(given, kind)
    checked = checked_bundle(given, chosen, customer_managed, settings)
    validated = Validated(bundle, chosen.value, tuple(one_line(w) for w in checked.warnings))

    def text() -> None:
        for warning in validated.warnings:
            click.echo(f"warning: {warning}", err=True)
        click.echo(f"{bundle}: a valid {chosen.value} template bundle")

    emit(output, validated, text)


@click.command("render")
@bundle_argument
@click.option(
    "--spec",
    "spec_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An EnvironmentSpec (environment bundles) or ServiceSpec (service bundles).",
)
@kind_option
@customer_managed_option
@click.option(
    "--environment-outputs",
    default=None,
    metavar="JSON",
    help="The environment's outputs the service templates read: a JSON object of strings, "
    "or a file holding one.",
)
@click.option(
    "--instance-outputs",
    default=None,
    metavar="JSON",
    help="Outputs of every service instance, as the pipeline sees them (JSON or a file).",
)
@click.option("--name", default=None, help="The environment's or service's name.")
@click.option("--repository-id", default=None, help="The service's repository (org/name).")
@click.option("--branch-name", default=None, help="The service's branch.")
@click.option(
    "--repository-connection-arn", default=None, help="The service's repository connection."
)
@click.option(
    "--template-name",
    default=None,
    help="The template's name (default: the bundle's folder, above a v1-style folder).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the files into this folder instead of printing them.",
)
@output_option
def render(
    bundle: Path,
    spec_path: Path,
    kind: str | None,
    customer_managed: bool,
    environment_outputs: str | None,
    instance_outputs: str | None,
    name: str | None,
    repository_id: str | None,
    branch_name: str | None,
    repository_connection_arn: str | None,
    template_name: str | None,
    out_dir: Path | None,
    output: OutputFormat,
) -> None:
    """Render what deploying SPEC with a bundle would deploy, without a server.

    The spec is checked against the schema as a deployment checks it, and the templates are
    rendered as a deployment renders them. Files go to --out DIR (environment/,
    instances/NAME/, pipeline/), or to standard output.
    """
    settings = settings_from()
    given = read_bundle_input(bundle, settings.bundle_limits)
    chosen = _kind(given, kind)
    checked = checked_bundle(given, chosen, customer_managed, settings)
    stand_ins = StandIns(
        template_name=template_name or _template_name(bundle),
        resource_name=name or f"my-{chosen.value}",
        account_id=settings.account_id,
        region=settings.region,
        environment_outputs=_outputs("--environment-outputs", environment_outputs),
        instance_outputs=_outputs("--instance-outputs", instance_outputs),
        repository_connection_arn=repository_connection_arn,
        repository_id=repository_id,
        branch_name=branch_name,
    )
    rendered = _render(bundle, checked, chosen, spec_path, stand_ins)
    for resource in rendered:
        for warning in resource.warnings:
            click.echo(f"warning: {resource.name}: {one_line(warning)}", err=True)
    written = [] if out_dir is None else [_write(out_dir, r) for r in rendered]
    emit(
        output,
        Rendered(tuple(rendered), tuple(path for paths in written for path in paths)),
        lambda: _print_rendered(rendered, out_dir, sum(len(paths) for paths in written)),
    )


def _print_rendered(rendered: list[RenderedResource], out_dir: Path | None, count: int) -> None:
    if out_dir is not None:
        click.echo(f"Rendered {count} file(s) into {out_dir}", err=True)
        return
    for resource in rendered:
        for file_name, text in resource.files.items():
            click.echo(f"# --- {_relative(resource, file_name)} ({resource.engine})")
            click.echo(text, nl=not text.endswith("\n"))


def _kind(given: BundleInput, kind: str | None) -> BundleKindChoice:
    if kind is not None:
        return BundleKindChoice(kind)
    # A schema that cannot be read is reported by the checks, in registration's words.
    return given.declared_kind or BundleKindChoice.ENVIRONMENT


def _render(
    bundle: Path,
    checked: CheckedBundle,
    kind: BundleKindChoice,
    spec_path: Path,
    stand_ins: StandIns,
) -> list[RenderedResource]:
    spec = _read_text(spec_path, _MAX_SPEC_READ, "--spec")
    try:
        return render_bundle(checked, kind.template_kind, spec, stand_ins)
    except InvalidInput as exc:
        raise CliFailure(
            ExitStatus.INVALID_INPUT,
            f"{spec_path}: {one_line(exc.message)}",
            "fix the spec (the schema is in the bundle's schema/schema.yaml)",
        ) from exc
    except RenderFailed as exc:
        raise CliFailure(
            ExitStatus.INVALID_INPUT,
            f"{bundle}: {one_line(str(exc))}",
            "fix the template, or give what it reads with --environment-outputs, "
            "--instance-outputs or --name",
        ) from exc


def _outputs(option: str, value: str | None) -> dict[str, str]:
    """A JSON object of strings, given inline or in a file."""
    if value is None:
        return {}
    text = value
    if not value.lstrip().startswith("{"):
        text = _read_text(Path(value), _MAX_OUTPUTS_READ, option)
    try:
        data: Any = json.loads(text)
    except ValueError as exc:
        raise _bad_option(option, f"is not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise _bad_option(option, "must be a JSON object of output names and values")
    wrong = sorted(key for key, item in data.items() if not isinstance(item, str))
    if wrong:
        raise _bad_option(
            option, f"outputs are strings, as CloudFormation reports them; {wrong[0]!r} is not"
        )
    return data


def _read_text(path: Path, limit: int, option: str) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise _bad_option(option, f"{path} cannot be read: {exc.strerror}") from exc
    if len(data) > limit:
        raise _bad_option(option, f"{path} is larger than {limit:,} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _bad_option(option, f"{path} is not UTF-8 text") from exc


def _bad_option(option: str, reason: str) -> CliFailure:
    return CliFailure(ExitStatus.INVALID_INPUT, f"{option}: {reason}")


def _template_name(bundle: Path) -> str:
    """AWS's samples keep bundles in ``<template name>/v<major>/``."""
    folder = bundle.resolve()
    if folder.is_file():
        return folder.name.split(".")[0]
    if folder.name[:1] == "v" and folder.name[1:].isdigit():
        return folder.parent.name
    return folder.name


def _relative(resource: RenderedResource, file_name: str) -> str:
    folder = _FOLDER_OF.get(resource.kind, str(resource.kind))
    if resource.kind is RenderKind.SERVICE_INSTANCE:
        return f"{folder}/{resource.name}/{file_name}"
    return f"{folder}/{file_name}"


def _write(out_dir: Path, resource: RenderedResource) -> list[Path]:
    root = out_dir.resolve()
    paths: list[Path] = []
    for file_name, text in resource.files.items():
        path = out_dir / _relative(resource, file_name)
        # Instance names come from the spec: none may place a file outside --out.
        if not path.resolve().is_relative_to(root):
            raise CliFailure(
                ExitStatus.INVALID_INPUT,
                f"--out: {_relative(resource, file_name)!r} would be written outside {out_dir}",
                "name the spec's instances without '/' or '..'",
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        except OSError as exc:
            raise CliFailure(
                ExitStatus.INVALID_INPUT,
                f"--out: cannot write {path}: {exc.strerror}",
                "choose a folder you can write",
            ) from exc
        paths.append(path)
    return paths
