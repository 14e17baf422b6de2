"""Proton ARNs: ``arn:aws:proton:<region>:<account>:<resource path>``."""

from __future__ import annotations

import re
from dataclasses import dataclass

_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):proton:(?P<region>[a-z0-9-]*):"
    r"(?P<account>\d{12}):(?P<resource>.+)$"
)


@dataclass(frozen=True)
class Arns:
    region: str
    account_id: str

    def make(self, resource: str) -> str:
        return f"arn:aws:proton:{self.region}:{self.account_id}:{resource}"

    def template(self, arn_type: str, name: str) -> str:
        return self.make(f"{arn_type}/{name}")

    def template_version(self, arn_type: str, name: str, major: int, minor: int) -> str:
        return self.make(f"{arn_type}/{name}:{major}.{minor}")

    def repository(self, provider: str, name: str) -> str:
        return self.make(f"repository/{provider.lower()}:{name}")

    def environment(self, name: str) -> str:
        return self.make(f"environment/{name}")

    def service(self, name: str) -> str:
        return self.make(f"service/{name}")

    def service_instance(self, service: str, instance: str) -> str:
        return self.make(f"service/{service}/service-instance/{instance}")

    def service_pipeline(self, service: str) -> str:
        return self.make(f"service/{service}/pipeline")

    def component(self, name: str) -> str:
        return self.make(f"component/{name}")

    def connection(self, connection_id: str) -> str:
        """Baryon's own connections; Proton's were CodeStar's, which a user may register."""
        return f"arn:aws:baryon:{self.region}:{self.account_id}:connection/{connection_id}"

    def deployment(self, deployment_id: str) -> str:
        return self.make(f"deployment/{deployment_id}")


@dataclass(frozen=True)
class ParsedArn:
    region: str
    account_id: str
    resource_type: str  # the part before the first '/', e.g. "environment-template"
    resource_path: str  # the rest, e.g. "my-env:1.0"


def parse_arn(arn: str) -> ParsedArn | None:
    match = _ARN.match(arn)
    if not match:
        return None
    resource_type, _, path = match["resource"].partition("/")
    if not path:
        return None
    return ParsedArn(match["region"], match["account"], resource_type, path)
