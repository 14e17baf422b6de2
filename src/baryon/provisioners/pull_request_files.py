"""What a self-managed resource's pull request writes, and where (reference 4.2).

One folder per resource in the provisioning repository: ``<env>/`` for an environment,
``<env>/<service>-<instance>/`` for a service instance, ``<env>/components/<component>/``
for a component (all under ``environments/`` when the repository has that folder: the
documentation's "layout 1") and ``<service>/pipeline/`` for a pipeline in the pipeline
repository. The folder holds the rendered Terraform (every file under the managed header),
the variables and tfvars files, and ``.proton/deployment-metadata.json``, which the
customer's pipeline reads to know which resource and deployment it applies. A deletion
rewrites the same folder: every header becomes the "no longer managed" banner and the
metadata says ``isResourceDeleted``, so that the pipeline runs ``terraform destroy``.

Everything here is pure: files in, files out, so a re-run after a crash writes the same bytes.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from baryon.provisioners.base import ResourceKind
from baryon.render.jackson_json import jackson_dumps

METADATA_FILE = ".proton/deployment-metadata.json"
DELETED_DEPLOYMENT_ID = "<proton-resource-deleted>"
# Layout 1: a repository with this top-level folder keeps environments under it.
ENVIRONMENTS_FOLDER = "environments"
# Proton's wording, naming Baryon as render/terraform.py's managed header does.
DELETED_BANNER = """/*
This file is no longer managed by Baryon (AWS Proton compatible). The associated resource has been deleted in Baryon.
*/

"""  # noqa: E501 - one line per sentence, as Proton wrote it
_BRANCH_UUID_NAMESPACE = uuid.UUID("5d0b8a62-6f5e-4c51-9a55-0c3f4a1e7b21")
# The first comment of a managed file: Baryon's header or the one AWS Proton wrote (a
# repository moved from Proton keeps Proton's files until their next deployment).
_LEADING_COMMENT = re.compile(r"\A\s*/\*(.*?)\*/[ \t]*\n?(?:[ \t]*\n)*", re.DOTALL)
_MANAGED = re.compile(r"This file is managed by (?:Baryon|AWS Proton)")


@dataclass(frozen=True)
class ResourceMetadata:
    """``resourceMetadata`` of an environment, service instance or pipeline."""

    arn: str
    template_arn: str
    template_major_version: str
    template_minor_version: str
    environment_arn: str | None = None  # service instances only


@dataclass(frozen=True)
class ComponentMetadata:
    """``componentMetadata``: the service and instance only while the component is attached."""

    arn: str
    environment_arn: str
    service_arn: str | None = None
    service_instance_arn: str | None = None


Metadata = ResourceMetadata | ComponentMetadata


def resource_folder(
    kind: ResourceKind, names: tuple[str, ...], environment: str | None, *, layout_1: bool
) -> str:
    """The resource's folder (no trailing slash). ``names`` are ResourceIdentity.names;
    ``environment`` the environment an instance or component runs in."""
    if kind == ResourceKind.SERVICE_PIPELINE:
        return f"{names[0]}/pipeline"
    prefix = f"{ENVIRONMENTS_FOLDER}/" if layout_1 else ""
    if kind == ResourceKind.ENVIRONMENT:
        return f"{prefix}{names[0]}"
    if not environment:
        raise ValueError(f"a {kind.value} folder needs its environment's name")
    if kind == ResourceKind.SERVICE_INSTANCE:
        return f"{prefix}{environment}/{names[0]}-{names[1]}"
    return f"{prefix}{environment}/components/{names[0]}"


def branch_name(kind: ResourceKind, deployment_id: str) -> str:
    """``proton--proton-<kind>-<uuid>``; the uuid is the deployment's (or one derived from
    it), so a re-run of the same deployment finds its branch again."""
    try:
        token = uuid.UUID(deployment_id)
    except ValueError:
        token = uuid.uuid5(_BRANCH_UUID_NAMESPACE, deployment_id)
    return f"proton--proton-{kind.value}-{token}"


def pull_request_title(resource_arn: str) -> str:
    """``Update requested for Proton - <path>``: the ARN after its last ``:``
    (``environment/dev``, ``service/web/service-instance/prod``, ``service/web/pipeline``)."""
    return f"Update requested for Proton - {resource_arn.rsplit(':', 1)[-1]}"


def metadata_json(deployment_id: str, metadata: Metadata, *, deleted: bool) -> str:
    """``.proton/deployment-metadata.json`` in Proton's key order and Jackson's layout."""
    document: dict[str, Any] = {
        "deploymentId": DELETED_DEPLOYMENT_ID if deleted else deployment_id,
        "isResourceDeleted": deleted,
    }
    if isinstance(metadata, ComponentMetadata):
        component: dict[str, Any] = {
            "arn": metadata.arn,
            "environmentArn": metadata.environment_arn,
        }
        if metadata.service_arn and metadata.service_instance_arn:
            component["serviceArn"] = metadata.service_arn
            component["serviceInstanceArn"] = metadata.service_instance_arn
        component["componentType"] = "default"
        document["componentMetadata"] = component
    else:
        resource: dict[str, Any] = {
            "arn": metadata.arn,
            "templateArn": metadata.template_arn,
            "templateMajorVersion": metadata.template_major_version,
            "templateMinorVersion": metadata.template_minor_version,
        }
        if metadata.environment_arn:
            resource["environmentArn"] = metadata.environment_arn
        document["resourceMetadata"] = resource
    return jackson_dumps(document)


def deploy_changes(
    folder: str,
    existing: Mapping[str, bytes],
    rendered: Mapping[str, str],
    metadata: str,
    resource_arn: str,
) -> dict[str, bytes | None]:
    """Repository path -> new content (None deletes) for a deployment: the rendered files
    and the metadata; files an earlier deployment of this resource wrote (its header names
    the resource) that the new render no longer has are removed. ``existing`` is the
    folder's files on the target branch, by path relative to the folder."""
    changes: dict[str, bytes | None] = {
        f"{folder}/{name}": text.encode("utf-8") for name, text in rendered.items()
    }
    changes[f"{folder}/{METADATA_FILE}"] = metadata.encode("utf-8")
    for name, content in existing.items():
        path = f"{folder}/{name}"
        if path not in changes and _managed_for(content, resource_arn):
            changes[path] = None
    return changes


def deletion_changes(
    folder: str, existing: Mapping[str, bytes], metadata: str, resource_arn: str
) -> dict[str, bytes | None]:
    """The deletion marks: every file of the resource (its header names it) gets the banner
    instead of its header, and the metadata says isResourceDeleted. Nothing when the folder
    holds no file of the resource (its deployments were never merged): there is nothing to
    mark, and no pipeline has anything to destroy."""
    changes: dict[str, bytes | None] = {}
    for name, content in existing.items():
        marked = mark_deleted(content, resource_arn)
        if marked is not None:
            changes[f"{folder}/{name}"] = marked
    if not changes and METADATA_FILE not in existing:
        return {}
    changes[f"{folder}/{METADATA_FILE}"] = metadata.encode("utf-8")
    return changes


def mark_deleted(content: bytes, resource_arn: str) -> bytes | None:
    """The file with its managed header replaced by the deletion banner; None when the file
    is not one of the resource's (no header naming it, or marked already)."""
    text = _text(content)
    if text is None:
        return None
    header = _LEADING_COMMENT.match(text)
    if header is None or not _names(header.group(1), resource_arn):
        return None
    return (DELETED_BANNER + text[header.end() :]).encode("utf-8")


def _managed_for(content: bytes, resource_arn: str) -> bool:
    text = _text(content)
    header = _LEADING_COMMENT.match(text) if text is not None else None
    return header is not None and _names(header.group(1), resource_arn)


def _names(comment: str, resource_arn: str) -> bool:
    """A managed header naming exactly this resource (not one whose ARN merely starts so)."""
    if not _MANAGED.search(comment):
        return False
    return re.search(rf"Resource: {re.escape(resource_arn)}(?![\w/:.+=,@-])", comment) is not None


def _text(content: bytes) -> str | None:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None  # not a file Baryon wrote
