"""What the account alone says of Proton's resources, read from the stacks Proton left.

Proton tagged what it provisioned ``proton:*``, each value an ARN (reference
proton-migration.md 2.3): ``proton:environment``, ``proton:service``,
``proton:service-instance``, ``proton:component`` and ``proton:template``. A stack whose tags
name its resource and (but for a component) its template is enough to import that resource
without an export: its name and its service's or environment's come from the ARNs, its outputs
and provisioned resources from the stack, its template version is recovered later from the
template the stack runs (recovered_bundle.py).

What the account cannot tell is said, item by item, in ``AccountReading.notes``: the original
spec (an empty one is used: the recovered schema accepts it, and the template the stack runs
needs no input), the version number where ``proton:template`` names none (1.0), the
descriptions, display names, roles, repositories and customer tags.

``account_export`` turns those stacks into the same typed export an export directory gives,
merged into the one the user exported: what the export holds wins, the account fills the gaps.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import yaml

from baryon.importing.proton_export import (
    Deployed,
    ExportedComponent,
    ExportedEnvironment,
    ExportedInstance,
    ExportedOutput,
    ExportedPipeline,
    ExportedService,
    ExportedTemplate,
    ExportedVersion,
    ProtonExport,
    VersionKey,
)
from baryon.importing.stacks import DiscoveredStack
from baryon.service_models.baryon import ImportResourceType
from baryon.service_models.proton import (
    DeploymentStatus,
    ServiceStatus,
    ServiceTemplateSupportedComponentSourceType,
    TemplateType,
    TemplateVersionStatus,
)

Kind = ImportResourceType
# Proton's ResourceName: what a name taken from a tag must be before Baryon stores it.
_NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z_\-]{0,99}")
# <kind>-template/<name>, with :<major>[.<minor>] on a version's ARN.
_TEMPLATE = re.compile(
    r"(environment|service)-template/([0-9A-Za-z][0-9A-Za-z_\-]{0,99})(?::(\d{1,6})(?:\.(\d{1,6}))?)?"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The spec of an environment read from the account: no inputs (its stack's template needs none).
ENVIRONMENT_SPEC = "proton: EnvironmentSpec\nspec: {}\n"
# What no stack says, for every item read from the account.
_NO_SPEC = "the original spec (an empty one is used, which the recovered schema accepts)"
_NO_DESCRIPTION = "the description and the customer tags"


@dataclass(frozen=True)
class AccountReading:
    """The export merged with what the account's stacks add, and for each added item (by
    plan identity: type, name, version) where it comes from and what could not be known."""

    export: ProtonExport
    notes: dict[tuple[str, str, str | None], str] = field(default_factory=dict)
    # Stacks the account alone cannot give to a resource: stack id -> why.
    unreadable: dict[str, str] = field(default_factory=dict)


@dataclass
class _Owner:
    """A resource as a stack's tags name it."""

    kind: Kind
    names: tuple[str, ...]  # (environment,), (service, instance), (service,), (component,)
    arn: str
    stack: DiscoveredStack
    template: VersionKey | None = None
    numbered: bool = False  # whether the tag named the version
    environment: str | None = None


def _resource_part(arn: str) -> str | None:
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "proton":
        return None
    return parts[5]


def _names(arn: str, *words: str) -> tuple[str, ...] | None:
    """The names in a Proton ARN shaped ``word/name[/word/name]``, or None."""
    part = _resource_part(arn)
    if part is None:
        return None
    pieces = part.split("/")
    if len(pieces) != 2 * len(words) or pieces[0::2] != list(words):
        return None
    names = tuple(pieces[1::2])
    return names if all(_NAME.fullmatch(n) for n in names) else None


def _template(arn: str, kind: TemplateType) -> tuple[VersionKey, bool] | None:
    """The template version a ``proton:template`` tag names; 1.0 when it names none."""
    part = _resource_part(arn)
    found = _TEMPLATE.fullmatch(part or "")
    if found is None:
        return None
    word, name, major, minor = found.groups()
    if (word == "environment") != (kind == TemplateType.ENVIRONMENT):
        return None
    numbered = major is not None
    return VersionKey(kind, name, int(major or 1), int(minor or 0)), numbered


def _owner(stack: DiscoveredStack) -> _Owner | str:
    """Whose stack it is by its tags (the most specific tag wins), or why that is unknown."""
    tags = stack.tags
    env_names = _names(tags.get("proton:environment", ""), "environment")
    if "proton:component" in tags:
        names = _names(tags["proton:component"], "component")
        if names is None or env_names is None:
            return "its proton:component or proton:environment tag is no Proton ARN"
        owner = _Owner(Kind.COMPONENT, names, tags["proton:component"], stack)
        owner.environment = env_names[0]
        attached = _names(tags.get("proton:service-instance", ""), "service", "service-instance")
        if attached is not None:
            owner.names = (names[0], *attached)
        return owner
    kind = TemplateType.ENVIRONMENT
    if "proton:service-instance" in tags:
        names = _names(tags["proton:service-instance"], "service", "service-instance")
        owner = _Owner(Kind.SERVICE_INSTANCE, names or (), tags["proton:service-instance"], stack)
        kind = TemplateType.SERVICE
        if env_names is None:
            return "its proton:environment tag, which an instance's stack carries, is missing"
    elif "proton:service" in tags:
        names = _names(tags["proton:service"], "service")
        owner = _Owner(Kind.SERVICE_PIPELINE, names or (), tags["proton:service"], stack)
        kind = TemplateType.SERVICE
    elif "proton:environment" in tags:
        names = env_names
        owner = _Owner(Kind.ENVIRONMENT, names or (), tags["proton:environment"], stack)
    else:
        return "it carries no proton:environment, proton:service or proton:component tag"
    if names is None:
        return f"its tags name no Proton {owner.kind.lower().replace('_', ' ')} by ARN"
    template = _template(tags.get("proton:template", ""), kind)
    if template is None:
        return f"its tags name no {kind.lower()} template (proton:template)"
    owner.template, owner.numbered = template
    owner.environment = env_names[0] if env_names else None
    return owner


def _deployed(stack: DiscoveredStack) -> Deployed:
    created = stack.created_at or _EPOCH
    return Deployed(
        status=DeploymentStatus.SUCCEEDED,
        status_message=None,
        # Not Proton's id (the account does not keep it): the import derives one.
        last_succeeded_deployment_id=stack.stack_id,
        created_at=created,
        last_attempted_at=stack.updated_at or created,
        last_succeeded_at=stack.updated_at or created,
        outputs=tuple(ExportedOutput(k, v) for k, v in sorted(stack.outputs.items())),
        provisioned_resources=None,  # the stack's own resources are listed instead
    )


def _origin(stack: DiscoveredStack) -> str:
    return f"stack {stack.name}"


def account_export(
    stacks: Sequence[DiscoveredStack], export: ProtonExport | None
) -> AccountReading:
    """``export`` (None: there is none) with the resources that ``stacks`` (those no exported
    resource claims) hold and it lacks, and the templates and versions they run."""
    base = export or ProtonExport(None, (), (), (), (), (), ())
    notes: dict[tuple[str, str, str | None], str] = {}
    unreadable: dict[str, str] = {}
    owners: dict[str, _Owner] = {}
    for stack in stacks:
        owner = _owner(stack)
        if isinstance(owner, str):
            unreadable[stack.stack_id] = owner
        elif owner.arn in owners:
            # Two stacks for one resource: the plan says so (matching finds both).
            continue
        else:
            owners[owner.arn] = owner

    def note(kind: Kind, name: str, version: str | None, origin: str, *unknown: str) -> None:
        notes[(kind, name, version)] = (
            f"from the account only ({origin}); not known: {'; '.join(unknown)}"
        )

    environments = list(base.environments)
    services = {s.name: s for s in base.services}
    added_services: dict[str, dict[str, object]] = {}
    components = list(base.components)
    versions: dict[VersionKey, list[_Owner]] = {}
    known_environments = {e.name for e in base.environments}

    def uses(owner: _Owner) -> None:
        assert owner.template is not None
        versions.setdefault(owner.template, []).append(owner)

    for owner in sorted(owners.values(), key=lambda o: (o.kind, o.names)):
        stack = owner.stack
        if owner.kind == Kind.ENVIRONMENT:
            name = owner.names[0]
            if name in known_environments:
                continue
            assert owner.template is not None
            known_environments.add(name)
            uses(owner)
            environments.append(
                ExportedEnvironment(
                    name=name,
                    arn=owner.arn,
                    template_name=owner.template.template_name,
                    major=owner.template.major,
                    minor=owner.template.minor,
                    spec=ENVIRONMENT_SPEC,
                    description=None,
                    proton_service_role_arn=stack.role_arn,
                    codebuild_role_arn=None,
                    component_role_arn=None,
                    environment_account_connection_id=None,
                    provisioning=None,
                    provisioning_repository=None,
                    deployed=_deployed(stack),
                    tags=None,
                    file=_origin(stack),
                )
            )
            unknown = [_NO_SPEC, _NO_DESCRIPTION]
            if stack.role_arn is None:
                unknown.append(
                    "its protonServiceRoleArn (the stack has no RoleARN; Baryon updates it with "
                    "its own cloud credentials until one is set with update-environment)"
                )
            note(Kind.ENVIRONMENT, name, None, _origin(stack), *unknown)
        elif owner.kind in (Kind.SERVICE_INSTANCE, Kind.SERVICE_PIPELINE):
            service = owner.names[0]
            if service in services:
                continue  # the export has the service: what it says of it wins
            entry = added_services.setdefault(service, {"instances": [], "pipeline": None})
            uses(owner)
            assert owner.template is not None
            if owner.kind == Kind.SERVICE_PIPELINE:
                entry["pipeline"] = owner
                note(Kind.SERVICE_PIPELINE, service, None, _origin(stack), _NO_SPEC)
            else:
                entry["instances"].append(owner)  # type: ignore[attr-defined]
                note(
                    Kind.SERVICE_INSTANCE,
                    "/".join(owner.names),
                    None,
                    _origin(stack),
                    _NO_SPEC,
                    _NO_DESCRIPTION,
                )
        else:
            name = owner.names[0]
            if any(c.name == name for c in base.components):
                continue
            attached = owner.names[1:] if len(owner.names) == 3 else (None, None)
            components.append(
                ExportedComponent(
                    name=name,
                    arn=owner.arn,
                    environment_name=owner.environment or "",
                    service_name=attached[0],
                    service_instance_name=attached[1],
                    description=None,
                    service_spec=None,
                    template_file=None,  # read from its stack
                    deployed=_deployed(stack),
                    tags=None,
                    file=_origin(stack),
                )
            )
            note(
                Kind.COMPONENT,
                name,
                None,
                _origin(stack),
                "the service spec it was deployed with",
                _NO_DESCRIPTION,
            )

    environment_template = {e.name: (e.template_name, e.major) for e in environments}
    new_services: list[ExportedService] = []
    for name, entry in sorted(added_services.items()):
        instance_owners: list[_Owner] = entry["instances"]  # type: ignore[assignment]
        pipeline_owner: _Owner | None = entry["pipeline"]  # type: ignore[assignment]
        spec = _service_spec(instance_owners, pipeline_owner)
        template = (pipeline_owner or instance_owners[0]).template
        assert template is not None
        instances = tuple(
            ExportedInstance(
                service_name=name,
                name=owner.names[1],
                arn=owner.arn,
                environment_name=owner.environment or "",
                template_name=owner.template.template_name,
                major=owner.template.major,
                minor=owner.template.minor,
                spec=spec,
                deployed=_deployed(owner.stack),
                tags=None,
                file=_origin(owner.stack),
            )
            for owner in instance_owners
            if owner.template is not None
        )
        pipeline = None
        if pipeline_owner is not None and pipeline_owner.template is not None:
            pipeline = ExportedPipeline(
                service_name=name,
                arn=f"{pipeline_owner.arn}/pipeline",
                template_name=pipeline_owner.template.template_name,
                major=pipeline_owner.template.major,
                minor=pipeline_owner.template.minor,
                spec=spec,
                deployed=_deployed(pipeline_owner.stack),
            )
        stacks_of = [o.stack for o in instance_owners] + (
            [pipeline_owner.stack] if pipeline_owner else []
        )
        created = min((s.created_at or _EPOCH for s in stacks_of), default=_EPOCH)
        service_arn = (pipeline_owner or instance_owners[0]).arn.split("/service-instance/")[0]
        new_services.append(
            ExportedService(
                name=name,
                arn=service_arn,
                template_name=template.template_name,
                spec=spec,
                description=None,
                status=ServiceStatus.ACTIVE,
                repository_connection_arn=None,
                repository_id=None,
                branch_name=None,
                created_at=created,
                pipeline=pipeline,
                instances=instances,
                tags=None,
                file=", ".join(_origin(s) for s in stacks_of),
            )
        )
        note(
            Kind.SERVICE,
            name,
            None,
            ", ".join(_origin(s) for s in stacks_of),
            "the original spec (one naming its instances with empty inputs is used)",
            "its source repository and branch (a pipeline that needs them needs an export)",
            _NO_DESCRIPTION,
        )

    # Templates and versions: the export's, and those the added resources run.
    templates = list(base.templates)
    exported_versions = {v.key for v in base.versions}
    added_versions: list[ExportedVersion] = []
    for key, users in sorted(versions.items()):
        if key in exported_versions:
            continue
        created = min((u.stack.created_at or _EPOCH for u in users), default=_EPOCH)
        if base.template(key.kind, key.template_name) is None and not any(
            (t.kind, t.name) == (key.kind, key.template_name) for t in templates
        ):
            templates.append(
                ExportedTemplate(
                    kind=key.kind,
                    name=key.template_name,
                    arn=_template_arn(users[0], key),
                    display_name=None,
                    description=None,
                    encryption_key=None,
                    provisioning=None,
                    recommended_version=None,
                    created_at=created,
                    tags=None,
                    file=_origin(users[0].stack),
                )
            )
            note(
                Kind.ENVIRONMENT_TEMPLATE
                if key.kind == TemplateType.ENVIRONMENT
                else Kind.SERVICE_TEMPLATE,
                key.template_name,
                None,
                f"the proton:template tag of {_origin(users[0].stack)}",
                "its display name, description, encryption key and customer tags",
            )
        compatible: list[tuple[str, int]] = []
        sources: tuple[str, ...] = ()
        if key.kind == TemplateType.SERVICE:
            for user in users:
                found = environment_template.get(user.environment or "")
                if user.kind == Kind.SERVICE_INSTANCE and found and found not in compatible:
                    compatible.append(found)
            hosts = {(c.service_name, c.service_instance_name) for c in components}
            if any(
                u.kind == Kind.SERVICE_INSTANCE and (u.names[0], u.names[1]) in hosts for u in users
            ):
                sources = (ServiceTemplateSupportedComponentSourceType.DIRECTLY_DEFINED,)
        added_versions.append(
            ExportedVersion(
                kind=key.kind,
                template_name=key.template_name,
                major=key.major,
                minor=key.minor,
                arn=_template_arn(users[0], key) + f":{key.number}",
                status=TemplateVersionStatus.PUBLISHED,
                description=None,
                schema=None,  # inferred from the specs of what runs it
                compatible_environment_templates=tuple(sorted(compatible)),
                supported_component_sources=sources,
                created_at=created,
                file=_origin(users[0].stack),
            )
        )
        unknown = ["its bundle and schema (both recovered from the deployed templates)"]
        if not any(u.numbered for u in users):
            unknown.append(f"its major.minor number ({key.number}: the tags name none)")
        note(
            Kind.ENVIRONMENT_TEMPLATE_VERSION
            if key.kind == TemplateType.ENVIRONMENT
            else Kind.SERVICE_TEMPLATE_VERSION,
            key.template_name,
            key.number,
            ", ".join(_origin(u.stack) for u in users[:3]) + (" ..." if len(users) > 3 else ""),
            *unknown,
        )

    if not notes:
        return AccountReading(base, {}, unreadable)
    merged = replace(
        base,
        templates=tuple(templates),
        # Environment templates' versions first: a service version's compatibility needs them.
        versions=tuple(
            sorted(
                [*base.versions, *added_versions], key=lambda v: v.kind != TemplateType.ENVIRONMENT
            )
        ),
        environments=tuple(environments),
        services=(*base.services, *new_services),
        components=tuple(components),
    )
    return AccountReading(merged, notes, unreadable)


def _template_arn(owner: _Owner, key: VersionKey) -> str:
    """The template's ARN, in the region and account of the tag that names it."""
    value = owner.stack.tags.get("proton:template", "")
    prefix = value.split(":", 5)
    word = "environment" if key.kind == TemplateType.ENVIRONMENT else "service"
    return ":".join([*prefix[:5], f"{word}-template/{key.template_name}"])


def _service_spec(instances: Sequence[_Owner], pipeline: _Owner | None) -> str:
    """The spec a service read from the account gets: its instances by name and environment,
    each with empty inputs, and an empty pipeline when it has one; the same text every run."""
    document: dict[str, Any] = {"proton": "ServiceSpec"}
    if pipeline is not None:
        document["pipeline"] = {}
    document["instances"] = [
        {"name": owner.names[1], "environment": owner.environment, "spec": {}}
        for owner in sorted(instances, key=lambda o: o.names)
    ]
    return yaml.safe_dump(document, sort_keys=False)
