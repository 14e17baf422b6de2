"""What a policy is asked about: the resource a call touches and the facts of the change."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType


class ResourceKind(StrEnum):
    """A kind of resource; each is a Cedar entity type (``Baryon::<cedar_type>``)."""

    TEMPLATE = "template"  # an environment or a service template
    TEMPLATE_VERSION = "template_version"
    ENVIRONMENT = "environment"
    SERVICE = "service"
    SERVICE_INSTANCE = "service_instance"
    PIPELINE = "pipeline"
    COMPONENT = "component"
    CONNECTION = "connection"  # an environment account connection, or a forge connection
    REPOSITORY = "repository"
    SYNC_CONFIG = "sync_config"
    DEPLOYMENT = "deployment"  # one whose target is unknown (it is gone)
    ACCOUNT = "account"  # account-wide: settings, imports, summaries, lists, policies

    @property
    def cedar_type(self) -> str:
        return "Baryon::" + "".join(part.title() for part in self.value.split("_"))


_NO_TAGS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class ResourceFacts:
    """Proton's IAM condition keys for one resource, as Cedar attributes of it.

    A fact that does not apply to the kind (a template's environment) is "" so that policies
    compare it without a ``has`` test. ``tags`` are the resource's own tags (Cedar entity tags,
    ``resource.getTag("stage")``); ``request_tags`` those the call asks to set
    (``context.request_tags``); ``environment_tags`` those of the environment it runs in (an
    environment's own; ``context.environment_tags``), so that a policy can guard what runs in
    production; ``major_upgrade`` whether the change moves to another major version of its
    template (``context.major_upgrade``).
    """

    kind: ResourceKind
    name: str  # "prod", "my-service/my-instance", "my-template:1.2"; "" for account-wide
    arn: str = ""
    environment_template: str = ""
    service_template: str = ""
    template_major_version: str = ""
    environment: str = ""
    service: str = ""
    tags: Mapping[str, str] = field(default_factory=lambda: _NO_TAGS)
    request_tags: Mapping[str, str] = field(default_factory=lambda: _NO_TAGS)
    environment_tags: Mapping[str, str] = field(default_factory=lambda: _NO_TAGS)
    major_upgrade: bool = False

    @property
    def label(self) -> str:
        """How messages and ``baryon policy test`` name it: its ARN, else ``kind/name``."""
        return self.arn or f"{self.kind}/{self.name}"
