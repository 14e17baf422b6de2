"""The template registry through boto3 against a live server."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest

from tests.support.bundles import Registry, env_bundle, service_bundle, tar_gz


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def registry(proton: Any, s3: Any) -> Registry:
    return Registry(proton, s3)


def test_environment_template_crud(proton: Any) -> None:
    name = _name("env")
    created = proton.create_environment_template(
        name=name, displayName="Env", description="first", tags=[{"key": "team", "value": "a"}]
    )["environmentTemplate"]
    assert created["arn"] == f"arn:aws:proton:us-east-1:123456789012:environment-template/{name}"
    assert isinstance(created["createdAt"], datetime)
    assert "recommendedVersion" not in created
    # An identical retry of an unmodified template returns it; a different one conflicts.
    again = proton.create_environment_template(name=name, displayName="Env", description="first")
    assert again["environmentTemplate"]["arn"] == created["arn"]
    with pytest.raises(proton.exceptions.ConflictException):
        proton.create_environment_template(name=name, displayName="Other")

    updated = proton.update_environment_template(name=name, description="second")
    assert updated["environmentTemplate"]["description"] == "second"
    assert updated["environmentTemplate"]["displayName"] == "Env"
    got = proton.get_environment_template(name=name)["environmentTemplate"]
    assert got["description"] == "second"
    tags = proton.list_tags_for_resource(resourceArn=created["arn"])["tags"]
    assert tags == [{"key": "team", "value": "a"}]

    deleted = proton.delete_environment_template(name=name)["environmentTemplate"]
    assert deleted["name"] == name
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.get_environment_template(name=name)
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.delete_environment_template(name=name)


def test_versions_lifecycle_and_recommended(proton: Any, registry: Registry) -> None:
    name = _name("env")
    proton.create_environment_template(name=name)
    v10 = registry.register("environment", name, tar_gz(env_bundle()), description="one")
    assert (v10["majorVersion"], v10["minorVersion"], v10["status"]) == ("1", "0", "DRAFT")
    assert "environment_input_type" in v10["schema"]
    assert v10["arn"].endswith(f"environment-template/{name}:1.0")
    assert (
        "recommendedVersion"
        not in proton.get_environment_template(name=name)["environmentTemplate"]
    )

    published = registry.publish("environment", name, v10)
    assert published["status"] == "PUBLISHED" and published["recommendedMinorVersion"] == "0"
    v11 = registry.register("environment", name, tar_gz(env_bundle()), majorVersion="1")
    assert (v11["majorVersion"], v11["minorVersion"]) == ("1", "1")
    assert v11["recommendedMinorVersion"] == "0"  # a DRAFT is never recommended
    v20 = registry.register("environment", name, tar_gz(env_bundle(), wrapper="env"))
    assert (v20["majorVersion"], v20["minorVersion"], v20["status"]) == ("2", "0", "DRAFT")

    registry.publish("environment", name, v11)
    template = proton.get_environment_template(name=name)["environmentTemplate"]
    assert template["recommendedVersion"] == "1.1"
    registry.publish("environment", name, v20)
    assert (
        proton.get_environment_template(name=name)["environmentTemplate"]["recommendedVersion"]
        == "2.0"
    )

    # Only DRAFT -> PUBLISHED is allowed.
    with pytest.raises(proton.exceptions.ValidationException, match="DRAFT to PUBLISHED"):
        proton.update_environment_template_version(
            templateName=name, majorVersion="2", minorVersion="0", status="DRAFT"
        )
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.create_environment_template_version(
            templateName=name, majorVersion="7", source=registry.upload(tar_gz(env_bundle()))
        )

    versions = proton.list_environment_template_versions(templateName=name)["templateVersions"]
    assert [(v["majorVersion"], v["minorVersion"]) for v in versions] == [
        ("1", "0"),
        ("1", "1"),
        ("2", "0"),
    ]
    only_one = proton.list_environment_template_versions(templateName=name, majorVersion="1")
    assert len(only_one["templateVersions"]) == 2

    # Deletion order (Proton's rules, refused as invalid requests): the recommended minor of a
    # major goes last; the recommended version last.
    with pytest.raises(proton.exceptions.ValidationException, match="recommended minor"):
        proton.delete_environment_template_version(
            templateName=name, majorVersion="1", minorVersion="1"
        )
    with pytest.raises(proton.exceptions.ValidationException, match="last version"):
        proton.delete_environment_template_version(
            templateName=name, majorVersion="2", minorVersion="0"
        )
    with pytest.raises(proton.exceptions.ValidationException, match="still has 3 version"):
        proton.delete_environment_template(name=name)
    for major, minor in [("1", "0"), ("1", "1"), ("2", "0")]:
        proton.delete_environment_template_version(
            templateName=name, majorVersion=major, minorVersion=minor
        )
    proton.delete_environment_template(name=name)


def test_minor_version_must_stay_compatible(proton: Any, registry: Registry) -> None:
    name = _name("env")
    proton.create_environment_template(name=name)
    registry.register("environment", name, tar_gz(env_bundle()))
    narrowed = env_bundle()
    narrowed["schema/schema.yaml"] = narrowed["schema/schema.yaml"].replace(
        "enum: [small, large]", "enum: [small]"
    )
    failed = registry.register("environment", name, tar_gz(narrowed), majorVersion="1")
    assert failed["status"] == "REGISTRATION_FAILED"
    assert "not backward compatible with version 1.0" in failed["statusMessage"]
    assert "size" in failed["statusMessage"] and "large" in failed["statusMessage"]
    # The same change is fine as a new major version.
    assert registry.register("environment", name, tar_gz(narrowed))["status"] == "DRAFT"


def test_service_templates_and_compatibility(proton: Any, registry: Registry) -> None:
    env_name, svc_name = _name("env"), _name("svc")
    proton.create_environment_template(name=env_name)
    registry.register("environment", env_name, tar_gz(env_bundle()))
    proton.create_service_template(name=svc_name, displayName="Web")
    compatible = [{"templateName": env_name, "majorVersion": "1"}]
    version = registry.register(
        "service",
        svc_name,
        tar_gz(service_bundle()),
        compatibleEnvironmentTemplates=compatible,
        supportedComponentSources=["DIRECTLY_DEFINED"],
    )
    assert version["status"] == "DRAFT", version.get("statusMessage")
    assert version["compatibleEnvironmentTemplates"] == compatible
    assert version["supportedComponentSources"] == ["DIRECTLY_DEFINED"]

    with pytest.raises(proton.exceptions.ValidationException, match="has no major version 9"):
        proton.create_service_template_version(
            templateName=svc_name,
            source=registry.upload(tar_gz(service_bundle())),
            compatibleEnvironmentTemplates=[{"templateName": env_name, "majorVersion": "9"}],
        )
    updated = proton.update_service_template_version(
        templateName=svc_name,
        majorVersion="1",
        minorVersion="0",
        supportedComponentSources=[],
        description="no components",
    )["serviceTemplateVersion"]
    assert updated["supportedComponentSources"] == []
    assert updated["description"] == "no components"

    # A bundle without a pipeline needs a template whose pipeline is customer managed.
    failed = registry.register(
        "service",
        svc_name,
        tar_gz(service_bundle(pipeline=False)),
        compatibleEnvironmentTemplates=compatible,
    )
    assert failed["status"] == "REGISTRATION_FAILED"
    assert "pipeline" in failed["statusMessage"]
    no_pipeline = _name("svc")
    proton.create_service_template(name=no_pipeline, pipelineProvisioning="CUSTOMER_MANAGED")
    ok = registry.register(
        "service",
        no_pipeline,
        tar_gz(service_bundle(pipeline=False)),
        compatibleEnvironmentTemplates=compatible,
    )
    assert ok["status"] == "DRAFT", ok.get("statusMessage")
    template = proton.get_service_template(name=no_pipeline)["serviceTemplate"]
    assert template["pipelineProvisioning"] == "CUSTOMER_MANAGED"


def test_customer_managed_environment_templates_are_schema_only(
    proton: Any, registry: Registry
) -> None:
    name = _name("cm")
    proton.create_environment_template(name=name, provisioning="CUSTOMER_MANAGED")
    schema_only = {
        "schema/schema.yaml": (
            'schema:\n  format:\n    openapi: "3.0.0"\n  environment_input_type: "Out"\n'
            "  types:\n    Out:\n      type: object\n      properties:\n"
            "        VpcId:\n          type: string\n"
        )
    }
    assert registry.register("environment", name, tar_gz(schema_only))["status"] == "DRAFT"
    failed = registry.register("environment", name, tar_gz(env_bundle()))
    assert failed["status"] == "REGISTRATION_FAILED"
    assert "infrastructure" in failed["statusMessage"]
    listed = proton.list_environment_templates()["templates"]
    assert any(t["name"] == name and t["provisioning"] == "CUSTOMER_MANAGED" for t in listed)


def test_client_token_makes_version_creation_idempotent(proton: Any, registry: Registry) -> None:
    name = _name("env")
    proton.create_environment_template(name=name)
    source = registry.upload(tar_gz(env_bundle()))
    first = proton.create_environment_template_version(
        templateName=name, source=source, clientToken="tok-1"
    )["environmentTemplateVersion"]
    again = proton.create_environment_template_version(
        templateName=name, source=source, clientToken="tok-1"
    )["environmentTemplateVersion"]
    assert again["arn"] == first["arn"]
    with pytest.raises(proton.exceptions.ValidationException, match="IdempotentParameterMismatch"):
        proton.create_environment_template_version(
            templateName=name, source=source, clientToken="tok-1", description="changed"
        )
    assert (
        len(proton.list_environment_template_versions(templateName=name)["templateVersions"]) == 1
    )


def test_waiters_follow_registration(proton: Any, registry: Registry) -> None:
    env_name, svc_name = _name("env"), _name("svc")
    proton.create_environment_template(name=env_name)
    env = registry.register("environment", env_name, tar_gz(env_bundle()), wait=False)
    proton.get_waiter("environment_template_version_registered").wait(
        templateName=env_name,
        majorVersion=env["majorVersion"],
        minorVersion="0",
        WaiterConfig={"Delay": 1, "MaxAttempts": 30},
    )
    proton.create_service_template(name=svc_name)
    svc = registry.register(
        "service",
        svc_name,
        tar_gz(service_bundle()),
        wait=False,
        compatibleEnvironmentTemplates=[{"templateName": env_name, "majorVersion": "1"}],
    )
    proton.get_waiter("service_template_version_registered").wait(
        templateName=svc_name,
        majorVersion=svc["majorVersion"],
        minorVersion="0",
        WaiterConfig={"Delay": 1, "MaxAttempts": 30},
    )
    broken = registry.register("environment", env_name, b"not an archive", wait=False)
    with pytest.raises(Exception, match=r"REGISTRATION_FAILED|Waiter encountered a terminal"):
        proton.get_waiter("environment_template_version_registered").wait(
            templateName=env_name,
            majorVersion=broken["majorVersion"],
            minorVersion="0",
            WaiterConfig={"Delay": 1, "MaxAttempts": 30},
        )


def test_paginators_walk_every_page(proton: Any, registry: Registry) -> None:
    prefix = _name("pg")
    names = [f"{prefix}-{i:02d}" for i in range(7)]
    for name in names:
        proton.create_service_template(name=name)
    seen = []
    for page in proton.get_paginator("list_service_templates").paginate(
        PaginationConfig={"PageSize": 3}
    ):
        assert len(page["templates"]) <= 3
        seen += [t["name"] for t in page["templates"]]
    assert [n for n in seen if n.startswith(prefix)] == names
    assert len(seen) == len(set(seen))
    first = proton.list_service_templates(maxResults=2)
    assert len(first["templates"]) == 2 and first["nextToken"]
    with pytest.raises(proton.exceptions.ValidationException, match="nextToken"):
        proton.list_service_templates(nextToken="Zm9yZ2Vk")

    arn = proton.get_service_template(name=names[0])["serviceTemplate"]["arn"]
    proton.tag_resource(resourceArn=arn, tags=[{"key": f"k{i}", "value": "v"} for i in range(5)])
    tags = [
        t
        for page in proton.get_paginator("list_tags_for_resource").paginate(
            resourceArn=arn, PaginationConfig={"PageSize": 2}
        )
        for t in page["tags"]
    ]
    assert [t["key"] for t in tags] == [f"k{i}" for i in range(5)]
    env_name = _name("env")
    proton.create_environment_template(name=env_name)
    for _ in range(3):
        registry.register("environment", env_name, tar_gz(env_bundle()), wait=False)
    versions = [
        v
        for page in proton.get_paginator("list_environment_template_versions").paginate(
            templateName=env_name, PaginationConfig={"PageSize": 2}
        )
        for v in page["templateVersions"]
    ]
    assert [v["majorVersion"] for v in versions] == ["1", "2", "3"]
    for name in names:
        proton.delete_service_template(name=name)


def test_tags_on_templates_and_versions(proton: Any, registry: Registry) -> None:
    name = _name("env")
    arn = proton.create_environment_template(name=name)["environmentTemplate"]["arn"]
    version = registry.register(
        "environment", name, tar_gz(env_bundle()), tags=[{"key": "stage", "value": "beta"}]
    )
    assert proton.list_tags_for_resource(resourceArn=version["arn"])["tags"] == [
        {"key": "stage", "value": "beta"}
    ]
    proton.tag_resource(
        resourceArn=arn, tags=[{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]
    )
    proton.tag_resource(resourceArn=arn, tags=[{"key": "a", "value": "changed"}])
    proton.untag_resource(resourceArn=arn, tagKeys=["b", "missing"])
    assert proton.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"key": "a", "value": "changed"}
    ]
    with pytest.raises(proton.exceptions.ValidationException, match="reserved"):
        proton.tag_resource(resourceArn=arn, tags=[{"key": "aws:x", "value": "1"}])
    with pytest.raises(proton.exceptions.ValidationException, match="at most 50 tags"):
        proton.tag_resource(
            resourceArn=arn, tags=[{"key": f"t{i}", "value": "v"} for i in range(50)]
        )
    missing = arn.replace(name, name + "-missing")
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.tag_resource(resourceArn=missing, tags=[{"key": "a", "value": "1"}])
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.list_tags_for_resource(resourceArn=version["arn"].replace(":1.0", ":9.9"))


def test_account_settings(proton: Any) -> None:
    role = "arn:aws:iam::123456789012:role/pipeline"
    settings = proton.update_account_settings(pipelineServiceRoleArn=role)["accountSettings"]
    assert settings["pipelineServiceRoleArn"] == role
    assert proton.get_account_settings()["accountSettings"] == settings
    # A pipeline provisioning repository must be registered first: refused, not stored.
    with pytest.raises(proton.exceptions.ValidationException) as caught:
        proton.update_account_settings(
            pipelineProvisioningRepository={
                "provider": "GITHUB",
                "name": "org/infra",
                "branch": "main",
            },
        )
    assert "pipelineProvisioningRepository: the repository 'org/infra'" in str(caught.value)
    assert proton.get_account_settings()["accountSettings"] == settings
    cleared = proton.update_account_settings(
        pipelineServiceRoleArn="", deletePipelineProvisioningRepository=True
    )["accountSettings"]
    assert "pipelineServiceRoleArn" not in cleared
    assert "pipelineProvisioningRepository" not in cleared
    with pytest.raises(proton.exceptions.ValidationException):
        proton.update_account_settings(pipelineServiceRoleArn="not-an-arn")


TF_ENV = {
    "schema/schema.yaml": (
        'schema:\n  format:\n    openapi: "3.0.0"\n  environment_input_type: "In"\n'
        "  types:\n    In:\n      type: object\n      properties:\n"
        "        cidr:\n          type: string\n          default: 10.0.0.0/16\n"
    ),
    "infrastructure/manifest.yaml": (
        'infrastructure:\n  templates:\n    - file: "*"\n      rendering_engine: hcl\n'
        "      template_language: terraform\n"
    ),
    "infrastructure/main.tf": (
        'resource "aws_vpc" "this" {\n  cidr_block = var.environment.inputs.cidr\n}\n'
    ),
    "infrastructure/outputs.tf": 'output "vpc_id" {\n  value = aws_vpc.this.id\n}\n',
}

CODEBUILD_SVC = {
    "schema/schema.yaml": (
        'schema:\n  format:\n    openapi: "3.0.0"\n  service_input_type: "In"\n'
        "  types:\n    In:\n      type: object\n      properties:\n"
        "        replicas:\n          type: number\n          default: 2\n"
    ),
    "instance_infrastructure/manifest.yaml": (
        "infrastructure:\n  templates:\n    - rendering_engine: codebuild\n      settings:\n"
        "        image: aws/codebuild/amazonlinux2-x86_64-standard:4.0\n"
        "        runtimes:\n          nodejs: 16\n"
        "        env:\n          variables:\n            STAGE: prod\n"
        "        provision:\n          - npm ci\n"
        "          - npx cdk deploy --require-approval never\n"
        "        deprovision:\n          - npx cdk destroy --force\n"
    ),
    "instance_infrastructure/package.json": '{"name": "svc", "version": "1.0.0"}\n',
    "instance_infrastructure/bin/app.ts": "console.log('cdk app');\n",
}


def test_terraform_and_codebuild_bundles_register(proton: Any, registry: Registry) -> None:
    env_name, svc_name = _name("tf"), _name("cb")
    proton.create_environment_template(name=env_name)
    env = registry.register("environment", env_name, tar_gz(TF_ENV))
    assert env["status"] == "DRAFT", env.get("statusMessage")
    proton.create_service_template(name=svc_name, pipelineProvisioning="CUSTOMER_MANAGED")
    svc = registry.register(
        "service",
        svc_name,
        tar_gz(CODEBUILD_SVC),
        compatibleEnvironmentTemplates=[{"templateName": env_name, "majorVersion": "1"}],
    )
    assert svc["status"] == "DRAFT", svc.get("statusMessage")
    broken = dict(CODEBUILD_SVC)
    broken["instance_infrastructure/manifest.yaml"] = broken[
        "instance_infrastructure/manifest.yaml"
    ].split("        provision:")[0]
    failed = registry.register(
        "service",
        svc_name,
        tar_gz(broken),
        compatibleEnvironmentTemplates=[{"templateName": env_name, "majorVersion": "1"}],
    )
    assert failed["status"] == "REGISTRATION_FAILED"
    assert "provision" in failed["statusMessage"]
