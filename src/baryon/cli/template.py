"""``baryon template publish``: from a bundle folder to a registered (and published) version.

This command is a client like any other: it talks to Baryon through boto3 with the usual AWS
settings (for example after ``. <data dir>/env``), uploads the bundle to the bucket the
server names, registers the version and follows it until registration ends.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from baryon.api.validation import member_problems
from baryon.bundles.archive import pack_directory
from baryon.bundles.errors import BundleError
from baryon.bundles.limits import BundleLimits
from baryon.bundles.loader import read_registration_file
from baryon.cli.api_clients import ApiClients, call
from baryon.service_models.proton import (
    Provisioning,
    ServiceTemplateSupportedComponentSourceType,
    TemplateVersionStatus,
)

console = Console(stderr=True)

_KINDS = {
    "environment": ("environment_template", "environmentTemplate", "provisioning"),
    "service": ("service_template", "serviceTemplate", "pipelineProvisioning"),
}


@click.group()
def template() -> None:
    """Work with environment and service templates."""


@template.command("publish")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--name", required=True, help="Template name (created if it does not exist).")
@click.option("--kind", type=click.Choice(sorted(_KINDS)), required=True)
@click.option("--major-version", default=None, help="Add a minor version to this major.")
@click.option("--description", default=None, help="Description of the new version.")
@click.option(
    "--compatible-environment",
    "compatible",
    multiple=True,
    metavar="TEMPLATE:MAJOR",
    help="Service templates: a compatible environment template major version (repeatable). "
    "Default: the folder's .template-registration.yaml or .compatible-envs.",
)
@click.option(
    "--component-support",
    is_flag=True,
    help="Service templates: allow directly defined components.",
)
@click.option(
    "--customer-managed",
    is_flag=True,
    help="When creating the template: environment provisioning (or, for a service "
    "template, pipeline provisioning) is CUSTOMER_MANAGED.",
)
@click.option("--publish", "publish_after", is_flag=True, help="Publish once it is DRAFT.")
@click.option("--timeout", default=300, show_default=True, help="Seconds to wait.")
def publish(
    directory: Path,
    name: str,
    kind: str,
    major_version: str | None,
    description: str | None,
    compatible: tuple[str, ...],
    component_support: bool,
    customer_managed: bool,
    publish_after: bool,
    timeout: int,
) -> None:
    """Pack DIRECTORY, upload it, register it as a new version and follow its registration."""
    method, member, provisioning = _KINDS[kind]
    try:
        archive = pack_directory(directory, BundleLimits())
    except BundleError as exc:
        raise click.ClickException(str(exc)) from exc
    clients = ApiClients()
    info = clients.baryon.get_server_info()
    bucket = info["bundleBucket"]
    key = f"{kind}-templates/{name}/{hashlib.sha256(archive).hexdigest()[:20]}.tar.gz"
    call(clients.s3(info).put_object, Bucket=bucket, Key=key, Body=archive)
    console.print(f"Uploaded {len(archive):,} bytes to s3://{bucket}/{key}")

    _ensure_template(clients.proton, method, name, provisioning, customer_managed)
    request: dict[str, Any] = {
        "templateName": name,
        "source": {"s3": {"bucket": bucket, "key": key}},
    }
    if major_version:
        request["majorVersion"] = major_version
    if description:
        request["description"] = description
    if kind == "service":
        request["compatibleEnvironmentTemplates"] = _compatible(directory, compatible)
        if component_support:
            request["supportedComponentSources"] = [
                ServiceTemplateSupportedComponentSourceType.DIRECTLY_DEFINED
            ]
    created = call(getattr(clients.proton, f"create_{method}_version"), **request)
    version = created[f"{member}Version"]
    number = f"{version['majorVersion']}.{version['minorVersion']}"
    final = _follow(clients.proton, method, member, name, version, timeout)
    if final["status"] == TemplateVersionStatus.REGISTRATION_FAILED:
        raise click.ClickException(
            f"{name} {number} failed to register: {final.get('statusMessage')}"
        )
    if publish_after:
        call(
            getattr(clients.proton, f"update_{method}_version"),
            templateName=name,
            majorVersion=version["majorVersion"],
            minorVersion=version["minorVersion"],
            status=TemplateVersionStatus.PUBLISHED,
        )
        console.print(f"[green]{name} {number} is PUBLISHED[/green]")
    else:
        console.print(
            f"[green]{name} {number} is DRAFT[/green]; publish it with --publish "
            f"or update-{method.replace('_', '-')}-version --status PUBLISHED"
        )
    click.echo(final["arn"])


def _ensure_template(
    proton: Any, method: str, name: str, provisioning: str, customer_managed: bool
) -> None:
    try:
        getattr(proton, f"get_{method}")(name=name)
        return
    except proton.exceptions.ResourceNotFoundException:
        pass
    request: dict[str, Any] = {"name": name}
    if customer_managed:
        request[provisioning] = Provisioning.CUSTOMER_MANAGED
    call(getattr(proton, f"create_{method}"), **request)
    console.print(f"Created {method.replace('_', ' ')} {name}")


def _compatible(directory: Path, given: tuple[str, ...]) -> list[dict[str, str]]:
    pairs: list[tuple[str, str]] = []
    for item in given:
        template_name, sep, major = item.rpartition(":")
        # The API's own check of these members: "1\u0661" passed isdigit().
        member = ("compatibleEnvironmentTemplates",)
        problems = [
            *member_problems(
                "CreateServiceTemplateVersion", (*member, "templateName"), template_name
            ),
            *member_problems("CreateServiceTemplateVersion", (*member, "majorVersion"), major),
        ]
        if not sep or problems:
            raise click.BadParameter(
                f"{item!r} is not TEMPLATE:MAJOR", param_hint="--compatible-environment"
            )
        pairs.append((template_name, major))
    if not pairs:
        try:
            pairs = list(read_registration_file(directory).compatible_environments or [])
        except BundleError as exc:
            raise click.ClickException(str(exc)) from exc
    if not pairs:
        raise click.ClickException(
            "a service template version needs compatible environments: pass "
            "--compatible-environment TEMPLATE:MAJOR or add .template-registration.yaml"
        )
    return [{"templateName": n, "majorVersion": m} for n, m in pairs]


def _follow(
    proton: Any, method: str, member: str, name: str, version: dict[str, Any], timeout: int
) -> dict[str, Any]:
    number = f"{version['majorVersion']}.{version['minorVersion']}"
    deadline = time.monotonic() + timeout
    with console.status(f"Registering {name} {number}...") as status:
        while True:
            current = call(
                getattr(proton, f"get_{method}_version"),
                templateName=name,
                majorVersion=version["majorVersion"],
                minorVersion=version["minorVersion"],
            )[f"{member}Version"]
            status.update(f"{name} {number}: {current['status']}")
            if current["status"] != TemplateVersionStatus.REGISTRATION_IN_PROGRESS:
                return current
            if time.monotonic() > deadline:
                raise click.ClickException(
                    f"{name} {number} is still registering after {timeout} s"
                )
            time.sleep(0.5)
