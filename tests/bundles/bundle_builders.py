"""Small bundle and archive builders shared by the bundle tests (real files, no mocks)."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path

from tests.support.bundles import CFN_MANIFEST, ENV_SCHEMA

SERVICE_SCHEMA = """\
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
          minLength: 1
      required: [image]
    PipeInput:
      type: object
      properties:
        dockerfile:
          type: string
          default: Dockerfile
"""

CFN_TEMPLATE = "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n"

TF_MANIFEST = """\
infrastructure:
  templates:
    - file: "*"
      rendering_engine: hcl
      template_language: terraform
"""

CODEBUILD_MANIFEST = """\
infrastructure:
  templates:
    - rendering_engine: codebuild
      settings:
        image: aws/codebuild/amazonlinux2-x86_64-standard:4.0
        runtimes:
          nodejs: 16
        env:
          variables:
            TF_VERSION: 1.4.2
          secrets_manager:
            TOKEN: "team/token:Secret"
        provision:
          - npm ci
          - ./deploy.sh
        deprovision:
          - ./destroy.sh
        project_properties:
          VpcConfig:
            VpcId: "{{ environment.inputs.vpc_id }}"
"""


def env_bundle() -> dict[str, str]:
    return {
        "schema/schema.yaml": ENV_SCHEMA,
        "infrastructure/manifest.yaml": CFN_MANIFEST,
        "infrastructure/cloudformation.yaml": CFN_TEMPLATE,
    }


def service_bundle(*, pipeline: bool = True) -> dict[str, str]:
    files = {
        "schema/schema.yaml": SERVICE_SCHEMA,
        "instance_infrastructure/manifest.yaml": CFN_MANIFEST,
        "instance_infrastructure/cloudformation.yaml": CFN_TEMPLATE,
        ".compatible-envs": "test-env:1\n",
    }
    if pipeline:
        files["pipeline_infrastructure/manifest.yaml"] = CFN_MANIFEST
        files["pipeline_infrastructure/cloudformation.yaml"] = CFN_TEMPLATE
    else:
        files["schema/schema.yaml"] = "\n".join(
            line for line in SERVICE_SCHEMA.splitlines() if "pipeline_input_type" not in line
        )
    return files


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)
    return root


def tar_member(name: str, content: bytes = b"", **fields: object) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    for key, value in fields.items():
        setattr(info, key, value)
    return info, content


def tar_bytes(members: list[tuple[tarfile.TarInfo, bytes]], *, compress: bool = True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, content in members:
            if info.isreg():
                archive.addfile(info, io.BytesIO(content))
            else:
                archive.addfile(info)
    raw = buffer.getvalue()
    return gzip.compress(raw, mtime=0) if compress else raw


def tar_of_tree(files: dict[str, str], *, wrapper: str = "") -> bytes:
    members = [tar_member(f"{wrapper}{name}", text.encode()) for name, text in files.items()]
    return tar_bytes(members)


def zip_bytes(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, content in entries:
            archive.writestr(info, content)
    return buffer.getvalue()


def listing(root: Path) -> list[str]:
    """Every path under root, to prove an extraction wrote nothing outside its folder."""
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))
