"""Small template bundles of the tests' own, and helpers to register them on a live Baryon."""

from __future__ import annotations

import contextlib
import io
import tarfile
import time
import uuid
from pathlib import Path
from typing import Any

ENV_SCHEMA = """\
schema:
  format:
    openapi: "3.0.0"
  environment_input_type: "EnvInput"
  types:
    EnvInput:
      type: object
      description: "Inputs for a test environment"
      properties:
        vpc_cidr:
          type: string
          default: 10.0.0.0/16
          pattern: ([0-9]{1,3}\\.){3}[0-9]{1,3}($|/(16|24))
        size:
          type: string
          enum: [small, large]
          default: small
"""

ENV_CFN = """\
AWSTemplateFormatVersion: '2010-09-09'
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: '{{ environment.name }}-artifacts'
Outputs:
  BucketName:
    Value: !Ref Bucket
  Size:
    Value: '{{ environment.inputs.size }}'
"""

CFN_MANIFEST = """\
infrastructure:
  templates:
    - file: "cloudformation.yaml"
      rendering_engine: jinja
      template_language: cloudformation
"""

SVC_SCHEMA = """\
schema:
  format:
    openapi: "3.0.0"
  service_input_type: "SvcInput"
  pipeline_input_type: "PipeInput"
  types:
    SvcInput:
      type: object
      properties:
        port:
          type: number
          default: 80
          minimum: 1
          maximum: 65535
        image:
          type: string
          default: "nginx"
    PipeInput:
      type: object
      properties:
        dockerfile:
          type: string
          default: "Dockerfile"
"""

SVC_CFN = """\
Resources:
  Param:
    Type: AWS::SSM::Parameter
    Properties:
      Name: '/baryon/{{ service.name }}/{{ service_instance.name }}'
      Type: String
      Value: '{{ service.name }}-{{ service_instance.name }}-{{ service_instance.inputs.image }}'
Outputs:
  ParamName:
    Value: !Ref Param
  Port:
    Value: '{{ service_instance.inputs.port }}'
  Image:
    Value: '{{ service_instance.inputs.image }}'
  EnvBucket:
    Value: '{{ environment.outputs.BucketName }}'
"""

PIPE_CFN = """\
Resources:
  Param:
    Type: AWS::SSM::Parameter
    Properties:
      Name: '/baryon/{{ service.name }}/pipeline'
      Type: String
      Value: '{{ service.name }}-pipeline-{{ pipeline.inputs.dockerfile }}'
Outputs:
  Instances:
    Value: '{% for i in service_instances -%}
      {{ i.name }}={{ i.outputs.Port }}@{{ i.environment.name }};
      {%- endfor %}'
  Repository:
    Value: '{{ service.repository_id }}'
"""


def env_bundle() -> dict[str, str]:
    return {
        "schema/schema.yaml": ENV_SCHEMA,
        "infrastructure/manifest.yaml": CFN_MANIFEST,
        "infrastructure/cloudformation.yaml": ENV_CFN,
    }


def service_bundle(pipeline: bool = True) -> dict[str, str]:
    files = {
        "schema/schema.yaml": SVC_SCHEMA,
        "instance_infrastructure/manifest.yaml": CFN_MANIFEST,
        "instance_infrastructure/cloudformation.yaml": SVC_CFN,
    }
    if pipeline:
        files["pipeline_infrastructure/manifest.yaml"] = CFN_MANIFEST
        files["pipeline_infrastructure/cloudformation.yaml"] = PIPE_CFN
    else:
        files["schema/schema.yaml"] = SVC_SCHEMA.replace('  pipeline_input_type: "PipeInput"\n', "")
    return files


def tar_gz(files: dict[str, str | bytes], wrapper: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in sorted(files.items()):
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(f"{wrapper}/{name}" if wrapper else name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def tar_directory(path: Path, wrapper: str | None = None) -> bytes:
    files = {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }
    return tar_gz(files, wrapper)


class Registry:
    """Uploads bundles to the local cloud and registers them through the Proton API."""

    def __init__(self, proton: Any, s3: Any, bucket: str = "baryon-bundles-123456789012") -> None:
        self.proton, self.s3, self.bucket = proton, s3, bucket

    def upload(self, archive: bytes) -> dict[str, dict[str, str]]:
        key = f"tests/{uuid.uuid4().hex}.tar.gz"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=archive)
        return {"s3": {"bucket": self.bucket, "key": key}}

    def ensure_template(self, kind: str, name: str, **kwargs: Any) -> None:
        with contextlib.suppress(self.proton.exceptions.ConflictException):
            getattr(self.proton, f"create_{kind}_template")(name=name, **kwargs)

    def register(
        self, kind: str, name: str, archive: bytes, *, wait: bool = True, **kwargs: Any
    ) -> dict[str, Any]:
        """Creates a version of ``kind`` ("environment" or "service") and waits for the end
        of its registration; returns the version as GetXTemplateVersion shows it."""
        created = getattr(self.proton, f"create_{kind}_template_version")(
            templateName=name, source=self.upload(archive), **kwargs
        )
        version = created[f"{kind}TemplateVersion"]
        return self.wait(kind, name, version) if wait else version

    def wait(self, kind: str, name: str, version: dict[str, Any], timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            current = getattr(self.proton, f"get_{kind}_template_version")(
                templateName=name,
                majorVersion=version["majorVersion"],
                minorVersion=version["minorVersion"],
            )[f"{kind}TemplateVersion"]
            if current["status"] != "REGISTRATION_IN_PROGRESS":
                return current
            assert time.monotonic() < deadline, f"{name} still registering: {current}"
            time.sleep(0.1)

    def publish(self, kind: str, name: str, version: dict[str, Any]) -> dict[str, Any]:
        return getattr(self.proton, f"update_{kind}_template_version")(
            templateName=name,
            majorVersion=version["majorVersion"],
            minorVersion=version["minorVersion"],
            status="PUBLISHED",
        )[f"{kind}TemplateVersion"]
