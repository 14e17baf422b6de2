"""``baryon template publish``: from a bundle folder to a registered (and published) version.

This command is a client like any other: it talks to Baryon through boto3 with the usual AWS
settings (for example after ``. <data dir>/env``). Everything it can check is checked before
anything changes on the server: the names, the server and the credentials, the template's
provisioning, the bundle (registration's own checks, offline, under the rules that
provisioning sets), the major version and its minor-version compatibility, the compatible
environments. Only then does it upload, create
the template when missing, register the version and follow it; if any of that fails, what it
created is deleted again, newest first, so a failure leaves no template, no
REGISTRATION_FAILED version using up a major number, and no upload behind.

The upload needs no AWS credentials: the server presigns a PUT (and a DELETE, for the clean-up)
to a fresh key in its bundle bucket (CreateBundleUpload, cli/presigned_uploads.py), so a
Baryon key is enough against real AWS too. ``--upload-with-aws-credentials`` uploads to the
same key with the caller's own S3 instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from baryon.api.errors import ResourceNotFoundException
from baryon.api.validation import member_problems
from baryon.bundles.errors import BundleError
from baryon.bundles.loader import read_registration_file
from baryon.cli.api_clients import ApiClients, failure_of
from baryon.cli.failures import CliFailure, ExitStatus
from baryon.cli.options import OutputFormat, client_options, output_option, settings_from
from baryon.cli.output import emit
from baryon.cli.presigned_uploads import (
    BundleUpload,
    create_upload,
    delete_upload,
    put_archive,
)
from baryon.cli.template_bundle import (
    BundleKindChoice,
    checked_bundle,
    invalid_bundle,
    one_line,
    read_bundle_input,
)
from baryon.operations.template_bundles import BundleRefused, CheckedBundle, check_minor_version
from baryon.service_models.baryon import BundleUploadPurpose
from baryon.service_models.proton import (
    Provisioning,
    ServiceTemplateSupportedComponentSourceType,
    TemplateVersionStatus,
)

# Soft wrap: a long line (an S3 key, a reason) stays one line for whoever reads the log.
console = Console(stderr=True, soft_wrap=True)

# Versions a new minor version must stay compatible with (registration's sibling_schemas).
_REGISTERED = (TemplateVersionStatus.DRAFT, TemplateVersionStatus.PUBLISHED)


@dataclass(frozen=True)
class _Kind:
    """How the API spells one kind of template."""

    method: str  # environment_template | service_template
    member: str  # environmentTemplate | serviceTemplate
    provisioning: str  # the template's member that says who provisions
    operation: str  # CreateEnvironmentTemplate | CreateServiceTemplate
    purpose: BundleUploadPurpose  # CreateBundleUpload's name for this kind's bundles

    @property
    def label(self) -> str:
        return self.method.replace("_", " ")


_KINDS = {
    BundleKindChoice.ENVIRONMENT: _Kind(
        "environment_template",
        "environmentTemplate",
        "provisioning",
        "CreateEnvironmentTemplate",
        BundleUploadPurpose.ENVIRONMENT_TEMPLATE,
    ),
    BundleKindChoice.SERVICE: _Kind(
        "service_template",
        "serviceTemplate",
        "pipelineProvisioning",
        "CreateServiceTemplate",
        BundleUploadPurpose.SERVICE_TEMPLATE,
    ),
}


@dataclass(frozen=True)
class PublishPlan:
    """What a dry run would do (``--output json``)."""

    template_name: str
    kind: str
    upload: str  # s3://bucket/key
    upload_bytes: int
    create_template: bool
    customer_managed: bool
    # None: a new major version.
    major_version: str | None
    publish: bool


@dataclass(frozen=True)
class Published:
    """The version this run registered (``--output json``)."""

    arn: str
    template_name: str
    major_version: str
    minor_version: str
    status: str


@dataclass
class _Undo:
    """What this run created, to delete newest first if a later step fails."""

    steps: list[tuple[str, Callable[[], Any]]] = field(default_factory=list)

    def add(self, what: str, undo: Callable[[], Any]) -> None:
        self.steps.append((what, undo))

    def run(self) -> list[str]:
        """Deletes everything; what could not be deleted, with why."""
        left: list[str] = []
        for what, undo in reversed(self.steps):
            try:
                undo()
                console.print(f"Deleted {what}")
            except (ClientError, BotoCoreError, CliFailure) as exc:
                left.append(f"{what} ({one_line(str(exc))})")
        self.steps.clear()
        return left


@click.command("publish")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--name", required=True, help="Template name (created if it does not exist).")
@click.option("--kind", type=click.Choice([kind.value for kind in BundleKindChoice]), required=True)
@click.option("--major-version", default=None, help="Add a minor version to this major.")
@click.option(
    "--description",
    default=None,
    help="Description of the new version, and of the template when this creates it.",
)
@click.option(
    "--template-description",
    default=None,
    help="Description of the template itself (the portal's catalog shows it): set when this "
    "creates the template, updated when the template exists.",
)
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
    help="Environment provisioning (or, for a service template, pipeline provisioning) is "
    "CUSTOMER_MANAGED: a new template is created so, an existing one must be so.",
)
@click.option("--publish", "publish_after", is_flag=True, help="Publish once it is DRAFT.")
@click.option(
    "--dry-run", is_flag=True, help="Check everything and say what would be done; change nothing."
)
@click.option("--timeout", default=300, show_default=True, help="Seconds to wait.")
@click.option(
    "--upload-with-aws-credentials",
    "own_s3",
    is_flag=True,
    help="Upload with your own AWS credentials and S3 (the usual AWS settings, or "
    "AWS_ENDPOINT_URL_S3) instead of the URL the server presigns.",
)
@client_options
@output_option
def publish(
    directory: Path,
    name: str,
    kind: str,
    major_version: str | None,
    description: str | None,
    template_description: str | None,
    compatible: tuple[str, ...],
    component_support: bool,
    customer_managed: bool,
    publish_after: bool,
    dry_run: bool,
    timeout: int,
    own_s3: bool,
    output: OutputFormat,
) -> None:
    """Pack DIRECTORY, upload it, register it as a new version and follow its registration."""
    chosen = BundleKindChoice(kind)
    spelled = _KINDS[chosen]
    _check_names(spelled, name, major_version)
    settings = settings_from()
    given = read_bundle_input(directory, settings.bundle_limits)
    compatible_environments = (
        compatible_environment_entries(directory, compatible)
        if chosen is BundleKindChoice.SERVICE
        else []
    )
    server = _Server.connect(own_s3=own_s3)
    template = server.template(spelled, name)
    # The provisioning decides which rules the bundle follows, so it is settled first.
    if template is not None:
        _check_provisioning(spelled, template, customer_managed)
    checked = checked_bundle(given, chosen, customer_managed, settings)
    for warning in checked.warnings:
        console.print(f"warning: {one_line(warning)}", markup=False)
    if major_version is not None:
        server.check_major(spelled, name, template, int(major_version), checked, directory)
    server.check_environments(compatible_environments, from_option=bool(compatible))

    archive = given.archive
    # Asked for in a dry run too: the server's size limit is checked, and nothing is stored.
    upload = create_upload(server.clients.baryon, spelled.purpose, archive, name)
    version_request: dict[str, Any] = {
        "templateName": name,
        "source": {"s3": {"bucket": upload.bucket, "key": upload.key}},
    }
    if major_version:
        version_request["majorVersion"] = major_version
    if description:
        version_request["description"] = description
    if chosen is BundleKindChoice.SERVICE:
        version_request["compatibleEnvironmentTemplates"] = compatible_environments
        if component_support:
            version_request["supportedComponentSources"] = [
                ServiceTemplateSupportedComponentSourceType.DIRECTLY_DEFINED
            ]
    if dry_run:
        plan = PublishPlan(
            template_name=name,
            kind=chosen.value,
            upload=upload.location,
            upload_bytes=len(archive),
            create_template=template is None,
            customer_managed=customer_managed,
            major_version=major_version,
            publish=publish_after,
        )
        emit(output, plan, lambda: _print_plan(spelled, plan))
        return

    undo = _Undo()
    try:
        server.upload(upload, archive, undo)
        if template is None:
            server.create_template(
                spelled, name, customer_managed, template_description or description, undo
            )
        elif template_description is not None:
            # Not undone on a later failure: a description is harmless and easily set again.
            server.call(f"update_{spelled.method}", name=name, description=template_description)
        version = server.create_version(spelled, version_request, undo)
        number = f"{version['majorVersion']}.{version['minorVersion']}"
        final = server.follow(spelled, name, version, timeout)
        if final["status"] == TemplateVersionStatus.REGISTRATION_FAILED:
            raise CliFailure(
                ExitStatus.REFUSED,
                f"{name} {number} failed to register: {one_line(final.get('statusMessage') or '')}",
                "fix the bundle and publish again",
            )
        if publish_after:
            server.call(
                f"update_{spelled.method}_version",
                templateName=name,
                majorVersion=version["majorVersion"],
                minorVersion=version["minorVersion"],
                status=TemplateVersionStatus.PUBLISHED,
            )
    except BaseException as failure:
        left = undo.run()
        if left and isinstance(failure, CliFailure):
            raise CliFailure(
                failure.status,
                f"{failure.format_message()}; could not delete {', '.join(left)}",
            ) from failure
        raise
    if publish_after:
        console.print(f"[green]{name} {number} is PUBLISHED[/green]")
    else:
        console.print(
            f"[green]{name} {number} is DRAFT[/green]; publish it with --publish "
            f"or update-{spelled.method.replace('_', '-')}-version --status PUBLISHED"
        )
    published = Published(
        arn=final["arn"],
        template_name=name,
        major_version=version["majorVersion"],
        minor_version=version["minorVersion"],
        status=TemplateVersionStatus.PUBLISHED if publish_after else final["status"],
    )
    emit(output, published, lambda: click.echo(published.arn))


def _check_names(spelled: _Kind, name: str, major_version: str | None) -> None:
    """The API's own checks of the names (model patterns and lengths)."""
    problems = member_problems(spelled.operation, ("name",), name)
    if problems:
        raise CliFailure(
            ExitStatus.USAGE,
            f"--name {name!r} is not a template name: {problems[0].constraint}",
        )
    if major_version is not None and member_problems(
        f"{spelled.operation}Version", ("majorVersion",), major_version
    ):
        raise CliFailure(ExitStatus.USAGE, f"--major-version {major_version!r} is not a number")


def _check_provisioning(spelled: _Kind, template: dict[str, Any], customer_managed: bool) -> None:
    existing = template.get(spelled.provisioning)
    is_customer_managed = existing == Provisioning.CUSTOMER_MANAGED
    if is_customer_managed != customer_managed:
        what = "customer-managed" if is_customer_managed else "provisioned by Baryon"
        raise CliFailure(
            ExitStatus.USAGE,
            f"the {spelled.label} '{template['name']}' exists and its "
            f"{'pipeline ' if spelled.provisioning == 'pipelineProvisioning' else ''}"
            f"provisioning is {what}",
            ("pass --customer-managed" if is_customer_managed else "leave out --customer-managed")
            + ", or publish under another --name",
        )


def compatible_environment_entries(directory: Path, given: tuple[str, ...]) -> list[dict[str, str]]:
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
            raise invalid_bundle(directory, str(exc)) from exc
    if not pairs:
        raise CliFailure(
            ExitStatus.USAGE,
            "a service template version needs compatible environments",
            "pass --compatible-environment TEMPLATE:MAJOR or add .template-registration.yaml",
        )
    return [{"templateName": n, "majorVersion": m} for n, m in pairs]


def _print_plan(spelled: _Kind, plan: PublishPlan) -> None:
    click.echo(f"Would upload {plan.upload_bytes:,} bytes to {plan.upload}")
    if plan.create_template:
        how = " (customer-managed)" if plan.customer_managed else ""
        click.echo(f"Would create the {spelled.label} {plan.template_name}{how}")
    else:
        click.echo(f"The {spelled.label} {plan.template_name} exists")
    click.echo(
        f"Would register {plan.template_name} as "
        + (f"a new minor version of {plan.major_version}" if plan.major_version else "a new major")
        + (" and publish it" if plan.publish else " (DRAFT)")
    )
    click.echo("Dry run: nothing was changed.")


class _Server:
    """The Baryon this command talks to, every answer a one-line CliFailure on error."""

    def __init__(self, clients: ApiClients, info: dict[str, Any], *, own_s3: bool) -> None:
        self.clients = clients
        # The caller's own S3 client when asked for (--upload-with-aws-credentials).
        self.s3 = clients.s3(info) if own_s3 else None

    @classmethod
    def connect(cls, *, own_s3: bool) -> _Server:
        try:
            clients = ApiClients()
        except BotoCoreError as exc:
            raise failure_of(exc) from exc
        info = _calling(clients.baryon.get_server_info)
        return cls(clients, info, own_s3=own_s3)

    def call(self, method: str, **request: Any) -> Any:
        return _calling(getattr(self.clients.proton, method), **request)

    def template(self, spelled: _Kind, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = getattr(self.clients.proton, f"get_{spelled.method}")(
                name=name
            )[spelled.member]
        except ClientError as exc:
            if _code(exc) == ResourceNotFoundException.code:
                return None
            raise failure_of(exc) from exc
        except BotoCoreError as exc:
            raise failure_of(exc) from exc
        return found

    def check_major(
        self,
        spelled: _Kind,
        name: str,
        template: dict[str, Any] | None,
        major: int,
        checked: CheckedBundle,
        directory: Path,
    ) -> None:
        """The major version exists, and the bundle passes registration's minor-version
        compatibility check against its registered minor versions."""
        versions = [] if template is None else self._versions(spelled, name, major)
        if not versions:
            raise CliFailure(
                ExitStatus.USAGE,
                f"the {spelled.label} '{name}' has no major version {major}",
                "leave out --major-version to register a new major version",
            )
        siblings = {}
        for summary in versions:
            if summary["status"] not in _REGISTERED:
                continue
            version = self.call(
                f"get_{spelled.method}_version",
                templateName=name,
                majorVersion=summary["majorVersion"],
                minorVersion=summary["minorVersion"],
            )[f"{spelled.member}Version"]
            if version.get("schema"):
                siblings[f"{major}.{version['minorVersion']}"] = version["schema"]
        try:
            check_minor_version(checked, siblings, major)
        except BundleRefused as exc:
            raise invalid_bundle(directory, str(exc)) from exc

    def check_environments(self, entries: list[dict[str, str]], *, from_option: bool) -> None:
        """Each compatible environment template major version exists (CreateServiceTemplate-
        Version's own rule: some version of it that did not fail to register)."""
        for entry in entries:
            template, major = entry["templateName"], int(entry["majorVersion"])
            try:
                versions = self._versions(_KINDS[BundleKindChoice.ENVIRONMENT], template, major)
            except CliFailure as exc:
                if exc.status is not ExitStatus.REFUSED:
                    raise
                versions = []
            usable = [
                v for v in versions if v["status"] != TemplateVersionStatus.REGISTRATION_FAILED
            ]
            if not usable:
                raise CliFailure(
                    ExitStatus.USAGE if from_option else ExitStatus.INVALID_INPUT,
                    f"compatible environment {template}:{major}: the environment template "
                    f"'{template}' has no major version {major}",
                    "publish that environment template first, or name another",
                )

    def upload(self, upload: BundleUpload, archive: bytes, undo: _Undo) -> None:
        # The key is fresh, never another version's source: deleting it on failure is safe.
        s3 = self.s3
        if s3 is None:
            put_archive(upload, archive)
            undo.add(upload.location, lambda: delete_upload(upload))
        else:
            _calling(s3.put_object, Bucket=upload.bucket, Key=upload.key, Body=archive)
            undo.add(
                upload.location,
                lambda: s3.delete_object(Bucket=upload.bucket, Key=upload.key),
            )
        console.print(f"Uploaded {len(archive):,} bytes to {upload.location}")

    def create_template(
        self,
        spelled: _Kind,
        name: str,
        customer_managed: bool,
        description: str | None,
        undo: _Undo,
    ) -> None:
        request: dict[str, Any] = {"name": name}
        if customer_managed:
            request[spelled.provisioning] = Provisioning.CUSTOMER_MANAGED
        if description:
            request["description"] = description
        self.call(f"create_{spelled.method}", **request)
        undo.add(
            f"the {spelled.label} {name}",
            lambda: getattr(self.clients.proton, f"delete_{spelled.method}")(name=name),
        )
        console.print(f"Created {spelled.label} {name}")

    def create_version(
        self, spelled: _Kind, request: dict[str, Any], undo: _Undo
    ) -> dict[str, Any]:
        created = self.call(f"create_{spelled.method}_version", **request)
        version: dict[str, Any] = created[f"{spelled.member}Version"]
        name, major, minor = (
            request["templateName"],
            version["majorVersion"],
            version["minorVersion"],
        )
        undo.add(
            f"version {major}.{minor} of {name}",
            lambda: getattr(self.clients.proton, f"delete_{spelled.method}_version")(
                templateName=name, majorVersion=major, minorVersion=minor
            ),
        )
        return version

    def follow(
        self, spelled: _Kind, name: str, version: dict[str, Any], timeout: int
    ) -> dict[str, Any]:
        number = f"{version['majorVersion']}.{version['minorVersion']}"
        deadline = time.monotonic() + timeout
        with console.status(f"Registering {name} {number}...") as status:
            while True:
                current: dict[str, Any] = self.call(
                    f"get_{spelled.method}_version",
                    templateName=name,
                    majorVersion=version["majorVersion"],
                    minorVersion=version["minorVersion"],
                )[f"{spelled.member}Version"]
                status.update(f"{name} {number}: {current['status']}")
                if current["status"] != TemplateVersionStatus.REGISTRATION_IN_PROGRESS:
                    return current
                if time.monotonic() > deadline:
                    raise CliFailure(
                        ExitStatus.REFUSED,
                        f"{name} {number} is still registering after {timeout} s",
                        "check that Baryon's workers run, or pass a longer --timeout",
                    )
                time.sleep(0.5)

    def _versions(self, spelled: _Kind, name: str, major: int) -> list[dict[str, Any]]:
        try:
            pages = self.clients.proton.get_paginator(f"list_{spelled.method}_versions")
            return [
                summary
                for page in pages.paginate(templateName=name, majorVersion=str(major))
                for summary in page["templateVersions"]
            ]
        except ClientError as exc:
            if _code(exc) == ResourceNotFoundException.code:
                return []
            raise failure_of(exc) from exc
        except BotoCoreError as exc:
            raise failure_of(exc) from exc


def _calling(function: Callable[..., Any], **request: Any) -> Any:
    try:
        return function(**request)
    except (ClientError, BotoCoreError) as exc:
        raise failure_of(exc) from exc


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
