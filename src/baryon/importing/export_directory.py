"""Reads an export directory: what ``aws proton get-*``/``list-*`` printed before Proton closed.

Layout (one JSON file per call, exactly as the AWS CLI printed it; every file but a
resource's own is optional)::

    account-settings.json                       get-account-settings
    environment-templates/<name>.json           get-environment-template --name <name>
    environment-templates/<name>/versions/<M>.<m>.json
                                                get-environment-template-version
    environment-templates/<name>/tags.json      list-tags-for-resource --resource-arn <its arn>
    service-templates/...                       the same for service templates
    environments/<name>.json                    get-environment --name <name>
    environments/<name>/outputs.json            list-environment-outputs
    environments/<name>/provisioned-resources.json
                                                list-environment-provisioned-resources
    environments/<name>/tags.json
    services/<name>.json                        get-service --name <name> (spec and pipeline)
    services/<name>/pipeline-outputs.json       list-service-pipeline-outputs
    services/<name>/pipeline-provisioned-resources.json
                                                list-service-pipeline-provisioned-resources
    services/<name>/tags.json
    services/<name>/instances/<instance>.json   get-service-instance
    services/<name>/instances/<instance>/outputs.json, provisioned-resources.json, tags.json
    components/<name>.json                      get-component --name <name>
    components/<name>/outputs.json, provisioned-resources.json, tags.json
    deployments/<id>.json                       get-deployment --id <id> (a component's last
                                                successful one holds its IaC, templateFile)
    bundles/                                    each version's bundle, one of:
        <template>-<M>.<m>.tar.gz               the archive registered (from your S3 bucket)
        <template>/v<M>.<m>/                    the bundle as a folder
        <template>/v<M>/                        a template sync repository at the synced
                                                commit: the bundle of major version M's
                                                newest minor version
      (under environment-templates/ or service-templates/ when both kinds share a name)

Made with the AWS CLI while Proton still answered (``baryon import --how-to-export`` prints
this script)::

    set -eu
    mkdir -p export && cd export
    p() { aws proton "$@"; }
    p get-account-settings > account-settings.json
    for kind in environment service; do
      for t in $(p list-${kind}-templates --query 'templates[].name' --output text); do
        mkdir -p ${kind}-templates/$t/versions
        p get-${kind}-template --name $t > ${kind}-templates/$t.json
        arn=$(jq -r ".${kind}Template.arn" ${kind}-templates/$t.json)
        p list-tags-for-resource --resource-arn $arn > ${kind}-templates/$t/tags.json
        for v in $(p list-${kind}-template-versions --template-name $t \\
            --query 'templateVersions[].[majorVersion,minorVersion]' --output text | tr '\\t' .); do
          p get-${kind}-template-version --template-name $t --major-version ${v%.*} \\
            --minor-version ${v#*.} > ${kind}-templates/$t/versions/$v.json
        done
      done
    done
    for e in $(p list-environments --query 'environments[].name' --output text); do
      mkdir -p environments/$e
      p get-environment --name $e > environments/$e.json
      p list-environment-outputs --environment-name $e > environments/$e/outputs.json
      p list-environment-provisioned-resources --environment-name $e \\
        > environments/$e/provisioned-resources.json
      p list-tags-for-resource --resource-arn $(jq -r .environment.arn environments/$e.json) \\
        > environments/$e/tags.json
    done
    for s in $(p list-services --query 'services[].name' --output text); do
      mkdir -p services/$s/instances
      p get-service --name $s > services/$s.json
      p list-tags-for-resource --resource-arn $(jq -r .service.arn services/$s.json) \\
        > services/$s/tags.json
      if [ "$(jq -r '.service.pipeline // empty' services/$s.json)" ]; then
        p list-service-pipeline-outputs --service-name $s > services/$s/pipeline-outputs.json
        p list-service-pipeline-provisioned-resources --service-name $s \\
          > services/$s/pipeline-provisioned-resources.json
      fi
      for i in $(p list-service-instances --service-name $s \\
          --query 'serviceInstances[].name' --output text); do
        mkdir -p services/$s/instances/$i
        p get-service-instance --service-name $s --name $i > services/$s/instances/$i.json
        p list-service-instance-outputs --service-name $s --service-instance-name $i \\
          > services/$s/instances/$i/outputs.json
        p list-service-instance-provisioned-resources --service-name $s \\
          --service-instance-name $i > services/$s/instances/$i/provisioned-resources.json
      done
    done
    for c in $(p list-components --query 'components[].name' --output text); do
      mkdir -p components/$c deployments
      p get-component --name $c > components/$c.json
      p list-component-outputs --component-name $c > components/$c/outputs.json
      p list-component-provisioned-resources --component-name $c \\
        > components/$c/provisioned-resources.json
      d=$(jq -r '.component.lastSucceededDeploymentId // empty' components/$c.json)
      [ -z "$d" ] || p get-deployment --id $d --component-name $c > deployments/$d.json
    done
    # Bundles: copy each version's archive from the bucket you registered it from,
    #   aws s3 cp s3://<bucket>/<key> bundles/<template>-<M>.<m>.tar.gz
    # or copy the template's folder from your template sync repository at the synced commit,
    #   cp -r <repository>/<template> bundles/<template>
    # A version without a bundle is recovered from its deployed stack's template.

Every file is untrusted: sizes and nesting are bounded (limits.py), every member is checked
against the Proton model (shapes.py), and an error names the file and the member.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from baryon.bundles.errors import BundleError
from baryon.bundles.tree import read_tree
from baryon.importing.errors import ExportError
from baryon.importing.limits import DEFAULT_LIMITS, ExportLimits
from baryon.importing.proton_export import (
    BundleForm,
    BundleSource,
    Deployed,
    ExportedAccountSettings,
    ExportedComponent,
    ExportedEnvironment,
    ExportedInstance,
    ExportedOutput,
    ExportedPipeline,
    ExportedProvisionedResource,
    ExportedRepositoryBranch,
    ExportedService,
    ExportedTag,
    ExportedTemplate,
    ExportedVersion,
    ProtonExport,
)
from baryon.importing.shapes import read_output
from baryon.service_models.proton import (
    DeploymentStatus,
    ServiceStatus,
    TemplateType,
    TemplateVersionStatus,
)


def how_to_export() -> str:
    """The AWS CLI script of this module's docstring, as a user runs it (--how-to-export)."""
    lines = (__doc__ or "").splitlines()
    start = next(i for i, line in enumerate(lines) if line.endswith("this script)::")) + 2
    script = []
    for line in lines[start:]:
        if line and not line.startswith("    "):
            break
        script.append(line[4:])
    return "\n".join(script).strip() + "\n"


# Proton's ResourceName: also what makes a file name safe.
_NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,99}")
_NUMBER = re.compile(r"(0|[1-9][0-9]{0,8})")
_VERSION_FILE = re.compile(r"(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.json")
_ARCHIVE = re.compile(
    r"(?P<template>[0-9A-Za-z][0-9A-Za-z_-]{0,99})-(?P<major>0|[1-9][0-9]{0,8})\."
    r"(?P<minor>0|[1-9][0-9]{0,8})\.(?:tar\.gz|tgz|tar|zip)"
)
_VERSION_FOLDER = re.compile(r"v(?P<major>0|[1-9][0-9]{0,8})(?:\.(?P<minor>0|[1-9][0-9]{0,8}))?")
_KIND_FOLDERS = {
    "environment-templates": TemplateType.ENVIRONMENT,
    "service-templates": TemplateType.SERVICE,
}
# Warnings about files that are not part of an export: a few, then a count.
_SHOWN_STRAY_FILES = 20


def read_export_directory(root: Path, limits: ExportLimits = DEFAULT_LIMITS) -> ProtonExport:
    """Reads the export directory ``root`` (links refused, limits enforced)."""
    try:
        files = read_tree(root, limits.tree())
    except BundleError as exc:
        raise ExportError(exc.reason, file=exc.file) from None
    return read_export(files, limits)


def read_export(files: Mapping[str, bytes], limits: ExportLimits = DEFAULT_LIMITS) -> ProtonExport:
    """Reads an export from its files (path inside the directory -> content)."""
    return _Reader(files, limits).read()


@dataclass
class _Reader:
    files: Mapping[str, bytes]
    limits: ExportLimits

    def __post_init__(self) -> None:
        self.warnings: list[str] = []
        self.used: set[str] = set()

    def read(self) -> ProtonExport:
        if not self.files:
            raise ExportError("the export directory is empty")
        settings = self._account_settings()
        templates, versions = [], []
        for folder, kind in _KIND_FOLDERS.items():
            for name in self._names(folder):
                templates.append(self._template(kind, folder, name))
            versions += self._versions(kind, folder)
        environments = [self._environment(name) for name in self._names("environments")]
        services = [self._service(name) for name in self._names("services")]
        components = [self._component(name) for name in self._names("components")]
        bundles = self._bundles()
        self._note_stray_files()
        if not (templates or versions or environments or services or components):
            raise ExportError(
                "holds no Proton export: no environment-templates/, service-templates/, "
                "environments/, services/ or components/ files (see baryon import "
                "--how-to-export)"
            )
        return ProtonExport(
            account_settings=settings,
            templates=tuple(templates),
            versions=tuple(sorted(versions, key=lambda v: v.key)),
            environments=tuple(environments),
            services=tuple(services),
            components=tuple(components),
            bundles=tuple(bundles),
            warnings=tuple(self.warnings),
        )

    # --- files -------------------------------------------------------------------------

    def _names(self, folder: str) -> list[str]:
        """The resources of ``folder``: its ``<name>.json`` files."""
        names = []
        prefix = folder + "/"
        for path in self.files:
            rest = path[len(prefix) :] if path.startswith(prefix) else ""
            if rest.endswith(".json") and "/" not in rest:
                name = rest[: -len(".json")]
                if not _NAME.fullmatch(name):
                    raise ExportError(
                        "is not named after a Proton resource (letters, digits, '-' and '_', "
                        "at most 100 characters)",
                        file=path,
                    )
                names.append(name)
        return sorted(names)

    def _json(self, path: str, operation: str, *, required: bool = True) -> dict[str, Any] | None:
        data = self.files.get(path)
        if data is None:
            if required:
                raise ExportError("is missing", file=path)
            return None
        self.used.add(path)
        if len(data) > self.limits.max_json_bytes:
            raise ExportError(
                f"is {len(data):,} bytes; a Proton answer is at most "
                f"{self.limits.max_json_bytes:,}",
                file=path,
            )
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ExportError(f"is not UTF-8 text (byte {exc.start})", file=path) from None
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ExportError(
                f"is not JSON as the AWS CLI prints it: {exc.msg} (line {exc.lineno})", file=path
            ) from None
        except RecursionError:
            raise ExportError("is nested too deeply to be a Proton answer", file=path) from None
        if _depth(document, self.limits.max_json_depth) > self.limits.max_json_depth:
            raise ExportError("is nested too deeply to be a Proton answer", file=path)
        reading = read_output(operation, document, file=path)
        self.warnings += reading.warnings
        return reading.value

    def _member(self, path: str, operation: str, member: str) -> dict[str, Any]:
        document = self._json(path, operation)
        assert document is not None
        if member not in document:
            raise ExportError(
                f"holds no '{member}': is it the output of {_command(operation)}?", file=path
            )
        value: dict[str, Any] = document[member]
        return value

    def _same_name(self, path: str, field: str, found: str, expected: str) -> None:
        if found != expected:
            raise ExportError(
                f"is '{found}', but the file is named after '{expected}'", file=path, field=field
            )

    # --- account and templates -----------------------------------------------------------

    def _account_settings(self) -> ExportedAccountSettings | None:
        document = self._json("account-settings.json", "GetAccountSettings", required=False)
        if document is None:
            return None
        settings = document.get("accountSettings") or {}
        return ExportedAccountSettings(
            settings.get("pipelineServiceRoleArn") or None,
            settings.get("pipelineCodebuildRoleArn") or None,
        )

    def _template(self, kind: TemplateType, folder: str, name: str) -> ExportedTemplate:
        path = f"{folder}/{name}.json"
        word = "environment" if kind == TemplateType.ENVIRONMENT else "service"
        member = f"{word}Template"
        operation = f"Get{word.capitalize()}Template"
        found = self._member(path, operation, member)
        self._same_name(path, f"{member}.name", found["name"], name)
        provisioning = found.get(
            "provisioning" if word == "environment" else "pipelineProvisioning"
        )
        return ExportedTemplate(
            kind=kind,
            name=name,
            arn=found["arn"],
            display_name=found.get("displayName"),
            description=found.get("description"),
            encryption_key=found.get("encryptionKey"),
            provisioning=provisioning,
            recommended_version=found.get("recommendedVersion"),
            created_at=found["createdAt"],
            tags=self._tags(f"{folder}/{name}/tags.json"),
            file=path,
        )

    def _versions(self, kind: TemplateType, folder: str) -> list[ExportedVersion]:
        word = "environment" if kind == TemplateType.ENVIRONMENT else "service"
        member = f"{word}TemplateVersion"
        operation = f"Get{word.capitalize()}TemplateVersion"
        found: list[ExportedVersion] = []
        for path in sorted(self.files):
            parts = path.split("/")
            if len(parts) != 4 or parts[0] != folder or parts[2] != "versions":
                continue
            number = _VERSION_FILE.fullmatch(parts[3])
            if not number or not _NAME.fullmatch(parts[1]):
                raise ExportError("is not a version file: versions/<major>.<minor>.json", file=path)
            version = self._member(path, operation, member)
            self._same_name(path, f"{member}.templateName", version["templateName"], parts[1])
            major = _number(version["majorVersion"], path, f"{member}.majorVersion")
            minor = _number(version["minorVersion"], path, f"{member}.minorVersion")
            if (str(major), str(minor)) != (number[1], number[2]):
                raise ExportError(
                    f"is version {major}.{minor}, but the file is named after "
                    f"{number[1]}.{number[2]}",
                    file=path,
                    field=f"{member}.majorVersion",
                )
            compatible = tuple(
                (
                    entry["templateName"],
                    _number(
                        entry["majorVersion"],
                        path,
                        f"{member}.compatibleEnvironmentTemplates[{index}].majorVersion",
                    ),
                )
                for index, entry in enumerate(version.get("compatibleEnvironmentTemplates") or [])
            )
            found.append(
                ExportedVersion(
                    kind=kind,
                    template_name=parts[1],
                    major=major,
                    minor=minor,
                    arn=version["arn"],
                    status=TemplateVersionStatus(version["status"]),
                    description=version.get("description"),
                    schema=version.get("schema"),
                    compatible_environment_templates=compatible,
                    supported_component_sources=tuple(
                        version.get("supportedComponentSources") or ()
                    ),
                    created_at=version["createdAt"],
                    file=path,
                )
            )
        return found

    # --- resources -----------------------------------------------------------------------

    def _environment(self, name: str) -> ExportedEnvironment:
        path = f"environments/{name}.json"
        found = self._member(path, "GetEnvironment", "environment")
        self._same_name(path, "environment.name", found["name"], name)
        folder = f"environments/{name}"
        return ExportedEnvironment(
            name=name,
            arn=found["arn"],
            template_name=found["templateName"],
            major=_number(found["templateMajorVersion"], path, "environment.templateMajorVersion"),
            minor=_number(found["templateMinorVersion"], path, "environment.templateMinorVersion"),
            spec=found.get("spec"),
            description=found.get("description"),
            proton_service_role_arn=found.get("protonServiceRoleArn"),
            codebuild_role_arn=found.get("codebuildRoleArn"),
            component_role_arn=found.get("componentRoleArn"),
            environment_account_connection_id=found.get("environmentAccountConnectionId"),
            provisioning=found.get("provisioning"),
            provisioning_repository=_repository_branch(found.get("provisioningRepository")),
            deployed=self._deployed(
                found,
                outputs=(f"{folder}/outputs.json", "ListEnvironmentOutputs"),
                resources=(
                    f"{folder}/provisioned-resources.json",
                    "ListEnvironmentProvisionedResources",
                ),
            ),
            tags=self._tags(f"{folder}/tags.json"),
            file=path,
        )

    def _service(self, name: str) -> ExportedService:
        path = f"services/{name}.json"
        found = self._member(path, "GetService", "service")
        self._same_name(path, "service.name", found["name"], name)
        folder = f"services/{name}"
        pipeline = None
        if found.get("pipeline"):
            raw = found["pipeline"]
            pipeline = ExportedPipeline(
                service_name=name,
                arn=raw["arn"],
                template_name=raw["templateName"],
                major=_number(
                    raw["templateMajorVersion"], path, "service.pipeline.templateMajorVersion"
                ),
                minor=_number(
                    raw["templateMinorVersion"], path, "service.pipeline.templateMinorVersion"
                ),
                spec=raw.get("spec"),
                deployed=self._deployed(
                    raw,
                    outputs=(f"{folder}/pipeline-outputs.json", "ListServicePipelineOutputs"),
                    resources=(
                        f"{folder}/pipeline-provisioned-resources.json",
                        "ListServicePipelineProvisionedResources",
                    ),
                ),
            )
        instances = tuple(
            self._instance(name, instance) for instance in self._names(f"{folder}/instances")
        )
        return ExportedService(
            name=name,
            arn=found["arn"],
            template_name=found["templateName"],
            spec=found["spec"],
            description=found.get("description"),
            status=ServiceStatus(found["status"]),
            repository_connection_arn=found.get("repositoryConnectionArn"),
            repository_id=found.get("repositoryId"),
            branch_name=found.get("branchName"),
            created_at=found["createdAt"],
            pipeline=pipeline,
            instances=instances,
            tags=self._tags(f"{folder}/tags.json"),
            file=path,
        )

    def _instance(self, service: str, name: str) -> ExportedInstance:
        path = f"services/{service}/instances/{name}.json"
        found = self._member(path, "GetServiceInstance", "serviceInstance")
        self._same_name(path, "serviceInstance.name", found["name"], name)
        self._same_name(path, "serviceInstance.serviceName", found["serviceName"], service)
        folder = f"services/{service}/instances/{name}"
        return ExportedInstance(
            service_name=service,
            name=name,
            arn=found["arn"],
            environment_name=found["environmentName"],
            template_name=found["templateName"],
            major=_number(
                found["templateMajorVersion"], path, "serviceInstance.templateMajorVersion"
            ),
            minor=_number(
                found["templateMinorVersion"], path, "serviceInstance.templateMinorVersion"
            ),
            spec=found.get("spec"),
            deployed=self._deployed(
                found,
                outputs=(f"{folder}/outputs.json", "ListServiceInstanceOutputs"),
                resources=(
                    f"{folder}/provisioned-resources.json",
                    "ListServiceInstanceProvisionedResources",
                ),
            ),
            tags=self._tags(f"{folder}/tags.json"),
            file=path,
        )

    def _component(self, name: str) -> ExportedComponent:
        path = f"components/{name}.json"
        found = self._member(path, "GetComponent", "component")
        self._same_name(path, "component.name", found["name"], name)
        folder = f"components/{name}"
        deployed = self._deployed(
            found,
            outputs=(f"{folder}/outputs.json", "ListComponentOutputs"),
            resources=(f"{folder}/provisioned-resources.json", "ListComponentProvisionedResources"),
        )
        return ExportedComponent(
            name=name,
            arn=found["arn"],
            environment_name=found["environmentName"],
            service_name=found.get("serviceName") or None,
            service_instance_name=found.get("serviceInstanceName") or None,
            description=found.get("description"),
            service_spec=found.get("serviceSpec"),
            template_file=self._component_template(name, deployed.last_succeeded_deployment_id),
            deployed=deployed,
            tags=self._tags(f"{folder}/tags.json"),
            file=path,
        )

    def _component_template(self, name: str, deployment_id: str | None) -> str | None:
        if not deployment_id:
            return None
        path = f"deployments/{deployment_id}.json"
        if not _NAME.fullmatch(deployment_id) or path not in self.files:
            return None
        deployment = self._member(path, "GetDeployment", "deployment")
        state = (deployment.get("targetState") or {}).get("component") or {}
        if deployment.get("componentName") != name:
            raise ExportError(
                f"is a deployment of '{deployment.get('componentName')}', not of component "
                f"'{name}' whose last successful deployment it should be",
                file=path,
                field="deployment.componentName",
            )
        template_file: str | None = state.get("templateFile")
        return template_file

    def _deployed(
        self,
        found: Mapping[str, Any],
        *,
        outputs: tuple[str, str],
        resources: tuple[str, str],
    ) -> Deployed:
        output_document = self._json(*outputs, required=False)
        resource_document = self._json(*resources, required=False)
        return Deployed(
            status=DeploymentStatus(found["deploymentStatus"]),
            status_message=found.get("deploymentStatusMessage"),
            last_succeeded_deployment_id=found.get("lastSucceededDeploymentId"),
            created_at=found["createdAt"],
            last_attempted_at=found.get("lastDeploymentAttemptedAt"),
            last_succeeded_at=found.get("lastDeploymentSucceededAt"),
            outputs=None
            if output_document is None
            else tuple(
                ExportedOutput(item.get("key", ""), item.get("valueString", ""))
                for item in output_document.get("outputs") or []
            ),
            provisioned_resources=None
            if resource_document is None
            else tuple(
                ExportedProvisionedResource(
                    item.get("name", ""), item.get("identifier", ""), item.get("provisioningEngine")
                )
                for item in resource_document.get("provisionedResources") or []
            ),
        )

    def _tags(self, path: str) -> tuple[ExportedTag, ...] | None:
        document = self._json(path, "ListTagsForResource", required=False)
        if document is None:
            return None
        return tuple(ExportedTag(t["key"], t["value"]) for t in document.get("tags") or [])

    # --- bundles -------------------------------------------------------------------------

    def _bundles(self) -> list[BundleSource]:
        found: dict[str, BundleSource] = {}
        for path in self.files:
            if not path.startswith("bundles/"):
                continue
            self.used.add(path)
            source = _bundle_source(path)
            if source is None:
                self.warnings.append(
                    f"{path}: not a bundle (bundles/<template>-<M>.<m>.tar.gz, "
                    "bundles/<template>/v<M>.<m>/ or bundles/<template>/v<M>/); ignored"
                )
                continue
            found.setdefault(source.path, source)
        sources = sorted(found.values(), key=lambda s: s.path)
        seen: dict[tuple[object, ...], str] = {}
        for source in sources:
            key = (source.kind, source.template_name, source.major, source.minor)
            if key in seen:
                raise ExportError(
                    f"is a second bundle for the same version as {seen[key]}; keep one",
                    file=source.path,
                )
            seen[key] = source.path
        return sources

    def _note_stray_files(self) -> None:
        stray = sorted(set(self.files) - self.used)
        for path in stray[:_SHOWN_STRAY_FILES]:
            self.warnings.append(f"{path}: not part of a Proton export; ignored")
        if len(stray) > _SHOWN_STRAY_FILES:
            self.warnings.append(
                f"... and {len(stray) - _SHOWN_STRAY_FILES} more files that are not part of "
                "a Proton export"
            )


def _bundle_source(path: str) -> BundleSource | None:
    parts = path.split("/")[1:]
    kind = _KIND_FOLDERS.get(parts[0]) if parts else None
    prefix = "bundles/"
    if kind is not None:
        prefix += parts[0] + "/"
        parts = parts[1:]
    if len(parts) == 1:
        archive = _ARCHIVE.fullmatch(parts[0])
        if archive is None:
            return None
        return BundleSource(
            kind,
            archive["template"],
            int(archive["major"]),
            int(archive["minor"]),
            BundleForm.ARCHIVE,
            path,
        )
    if len(parts) < 3 or not _NAME.fullmatch(parts[0]):
        return None
    folder = _VERSION_FOLDER.fullmatch(parts[1])
    if folder is None:
        return None
    minor = folder["minor"]
    return BundleSource(
        kind,
        parts[0],
        int(folder["major"]),
        None if minor is None else int(minor),
        BundleForm.SYNC_FOLDER if minor is None else BundleForm.FOLDER,
        f"{prefix}{parts[0]}/{parts[1]}",
    )


def _number(text: str, file: str, field: str) -> int:
    if not _NUMBER.fullmatch(text):
        raise ExportError(f"is {text!r}, not a version number", file=file, field=field)
    return int(text)


def _depth(value: Any, limit: int) -> int:
    """How deeply ``value`` nests (stops counting past ``limit``), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > limit:
            return level
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
    return deepest


def _command(operation: str) -> str:
    words = re.findall(r"[A-Z][a-z]*", operation)
    return "aws proton " + "-".join(word.lower() for word in words)


def _repository_branch(found: Mapping[str, Any] | None) -> ExportedRepositoryBranch | None:
    """The model requires every member of a RepositoryBranch; _member checked them."""
    if not found:
        return None
    return ExportedRepositoryBranch(found["provider"], found["name"], found["branch"])
