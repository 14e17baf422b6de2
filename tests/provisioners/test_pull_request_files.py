"""The files a self-managed resource's pull request writes, and where (reference 4.2): folders
in both layouts, branch names and titles, ``.proton/deployment-metadata.json`` byte for byte
in Proton's key order and Jackson layout, and the deletion marks."""

from __future__ import annotations

import json
import uuid

import pytest

from baryon.provisioners.base import ResourceKind
from baryon.provisioners.pull_request_files import (
    DELETED_BANNER,
    METADATA_FILE,
    ComponentMetadata,
    ResourceMetadata,
    branch_name,
    deletion_changes,
    deploy_changes,
    mark_deleted,
    metadata_json,
    pull_request_title,
    resource_folder,
)
from baryon.render.terraform import managed_header

ARN = "arn:aws:proton:us-east-1:123456789012"
ENV_ARN = f"{ARN}:environment/dev"
INSTANCE_ARN = f"{ARN}:service/web/service-instance/prod"
TEMPLATE_ARN = f"{ARN}:environment-template/fargate-env"
PROTON_HEADER = (
    "/*\nThis file is managed by AWS Proton. Any changes made directly to this file will be "
    "overwritten the next time AWS Proton performs an update.\n\nTo manage this resource, see "
    f"AWS Proton Resource: {ENV_ARN}\n\nIf the resource is no longer accessible within AWS "
    "Proton, it may have been deleted and may require manual cleanup.\n*/\n\n"
)


@pytest.mark.parametrize(
    ("kind", "names", "environment", "layout_2", "layout_1"),
    [
        (ResourceKind.ENVIRONMENT, ("dev",), None, "dev", "environments/dev"),
        (
            ResourceKind.SERVICE_INSTANCE,
            ("web", "prod"),
            "dev",
            "dev/web-prod",
            "environments/dev/web-prod",
        ),
        (
            ResourceKind.COMPONENT,
            ("s3-bucket",),
            "dev",
            "dev/components/s3-bucket",
            "environments/dev/components/s3-bucket",
        ),
        # Pipelines live in the pipeline repository, named for their service only.
        (ResourceKind.SERVICE_PIPELINE, ("web",), None, "web/pipeline", "web/pipeline"),
    ],
)
def test_each_resource_has_the_folder_proton_wrote_in_both_layouts(
    kind: ResourceKind,
    names: tuple[str, ...],
    environment: str | None,
    layout_2: str,
    layout_1: str,
) -> None:
    assert resource_folder(kind, names, environment, layout_1=False) == layout_2
    assert resource_folder(kind, names, environment, layout_1=True) == layout_1


def test_an_instance_folder_needs_its_environment() -> None:
    with pytest.raises(ValueError, match="environment"):
        resource_folder(ResourceKind.SERVICE_INSTANCE, ("web", "prod"), None, layout_1=False)


def test_the_branch_is_named_for_the_kind_and_the_deployment_and_found_again() -> None:
    deployment = str(uuid.uuid4())
    assert branch_name(ResourceKind.ENVIRONMENT, deployment) == (
        f"proton--proton-environment-{deployment}"
    )
    assert branch_name(ResourceKind.SERVICE_INSTANCE, deployment).startswith(
        "proton--proton-service_instance-"
    )
    assert branch_name(ResourceKind.SERVICE_PIPELINE, deployment).startswith(
        "proton--proton-pipeline-"
    )
    # An id that is not a uuid still gives one, the same every time.
    derived = branch_name(ResourceKind.COMPONENT, "not-a-uuid")
    assert derived == branch_name(ResourceKind.COMPONENT, "not-a-uuid")
    uuid.UUID(derived.removeprefix("proton--proton-component-"))
    assert derived != branch_name(ResourceKind.COMPONENT, "another")


@pytest.mark.parametrize(
    ("arn", "title"),
    [
        (ENV_ARN, "Update requested for Proton - environment/dev"),
        (INSTANCE_ARN, "Update requested for Proton - service/web/service-instance/prod"),
        (f"{ARN}:service/web/pipeline", "Update requested for Proton - service/web/pipeline"),
        (f"{ARN}:component/s3-bucket", "Update requested for Proton - component/s3-bucket"),
    ],
)
def test_the_title_is_the_arn_after_its_last_colon(arn: str, title: str) -> None:
    assert pull_request_title(arn) == title


def test_an_instance_metadata_file_is_protons_byte_for_byte() -> None:
    metadata = ResourceMetadata(
        arn=INSTANCE_ARN,
        template_arn=f"{ARN}:service-template/lb-svc",
        template_major_version="1",
        template_minor_version="3",
        environment_arn=ENV_ARN,
    )
    assert metadata_json("8f0c-id", metadata, deleted=False) == (
        "{\n"
        '  "deploymentId" : "8f0c-id",\n'
        '  "isResourceDeleted" : false,\n'
        '  "resourceMetadata" : {\n'
        f'    "arn" : "{INSTANCE_ARN}",\n'
        f'    "templateArn" : "{ARN}:service-template/lb-svc",\n'
        '    "templateMajorVersion" : "1",\n'
        '    "templateMinorVersion" : "3",\n'
        f'    "environmentArn" : "{ENV_ARN}"\n'
        "  }\n"
        "}"
    )


def test_environments_and_pipelines_have_no_environment_arn_and_deletion_marks_the_id() -> None:
    metadata = ResourceMetadata(ENV_ARN, TEMPLATE_ARN, "2", "0")
    document = json.loads(metadata_json("id-1", metadata, deleted=True))
    assert document == {
        "deploymentId": "<proton-resource-deleted>",
        "isResourceDeleted": True,
        "resourceMetadata": {
            "arn": ENV_ARN,
            "templateArn": TEMPLATE_ARN,
            "templateMajorVersion": "2",
            "templateMinorVersion": "0",
        },
    }


def test_a_component_names_its_service_and_instance_only_while_attached() -> None:
    attached = ComponentMetadata(
        f"{ARN}:component/cache", ENV_ARN, f"{ARN}:service/web", INSTANCE_ARN
    )
    text = metadata_json("id-2", attached, deleted=False)
    assert list(json.loads(text)["componentMetadata"]) == [
        "arn",
        "environmentArn",
        "serviceArn",
        "serviceInstanceArn",
        "componentType",
    ]
    assert json.loads(text)["componentMetadata"]["componentType"] == "default"
    detached = ComponentMetadata(f"{ARN}:component/cache", ENV_ARN)
    assert list(
        json.loads(metadata_json("id-2", detached, deleted=False))["componentMetadata"]
    ) == [
        "arn",
        "environmentArn",
        "componentType",
    ]


def test_a_deployment_writes_its_files_and_removes_only_its_own_stale_ones() -> None:
    header = managed_header(ENV_ARN)
    other = managed_header(f"{ENV_ARN}2")  # an environment whose ARN starts the same
    existing = {
        "main.tf": (header + "old main").encode(),
        "gone.tf": (header + "no longer in the bundle").encode(),
        "README.md": b"the customer's own notes",
        "web-prod/main.tf": (managed_header(INSTANCE_ARN) + "an instance's").encode(),
        "lookalike.tf": (other + "not ours").encode(),
    }
    changes = deploy_changes(
        "dev", existing, {"main.tf": header + "new main"}, '{"deploymentId" : "x"}', ENV_ARN
    )
    assert changes == {
        "dev/main.tf": (header + "new main").encode(),
        f"dev/{METADATA_FILE}": b'{"deploymentId" : "x"}',
        "dev/gone.tf": None,
    }


def test_deletion_replaces_every_header_of_the_resource_with_the_banner() -> None:
    header = managed_header(ENV_ARN)
    existing = {
        "main.tf": (header + 'resource "terraform_data" "x" {}\n').encode(),
        "proton.environment.variables.tf": (header + 'variable "environment" {}\n').encode(),
        "proton.auto.tfvars.json": b'{\n  "//" : "arn"\n}',
        METADATA_FILE: b"{ }",
        "web-prod/main.tf": (managed_header(INSTANCE_ARN) + "an instance's").encode(),
        "legacy.tf": (PROTON_HEADER + "written by AWS Proton\n").encode(),
    }
    changes = deletion_changes("dev", existing, "deleted metadata", ENV_ARN)
    assert changes == {
        "dev/main.tf": (DELETED_BANNER + 'resource "terraform_data" "x" {}\n').encode(),
        "dev/proton.environment.variables.tf": (
            DELETED_BANNER + 'variable "environment" {}\n'
        ).encode(),
        "dev/legacy.tf": (DELETED_BANNER + "written by AWS Proton\n").encode(),
        f"dev/{METADATA_FILE}": b"deleted metadata",
    }
    assert DELETED_BANNER.startswith("/*\nThis file is no longer managed by Baryon")
    assert "The associated resource has been deleted" in DELETED_BANNER


def test_nothing_is_marked_where_nothing_of_the_resource_was_merged() -> None:
    assert deletion_changes("dev", {}, "deleted", ENV_ARN) == {}
    only_others = {"web-prod/main.tf": (managed_header(INSTANCE_ARN) + "x").encode()}
    assert deletion_changes("dev", only_others, "deleted", ENV_ARN) == {}


def test_a_marked_file_is_not_marked_again_and_odd_files_are_left_alone() -> None:
    marked = mark_deleted((managed_header(ENV_ARN) + "body").encode(), ENV_ARN)
    assert marked == (DELETED_BANNER + "body").encode()
    assert mark_deleted(marked, ENV_ARN) is None
    assert mark_deleted(b"\xff\xfe not text", ENV_ARN) is None
    assert mark_deleted(b"/* a comment that never ends", ENV_ARN) is None
    assert mark_deleted(b"/* This file is managed by someone else */\n", ENV_ARN) is None
