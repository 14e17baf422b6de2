"""Where moto's own services refuse what AWS's APIs accept, for every caller (CloudFormation
and direct API calls alike).

- ELBv2 target group names with two hyphens in a row ("svc--instance"): AWS's rule is only
  alphanumerics and hyphens, 32 characters at most, no hyphen first or last; its API creates
  "a--b" (only the console refuses it). moto adds a stricter rule of its own, which makes
  AWS's own Proton sample loadbalanced-fargate-svc fail.
"""

from __future__ import annotations

from typing import Any

from baryon.cloud.patching import installs_once

_PLACEHOLDER = "-0"  # stands in for "--" while moto checks the name: same length, no "--"


@installs_once
def install() -> None:
    from moto.elbv2.exceptions import DuplicateTargetGroupName
    from moto.elbv2.models import ELBv2Backend

    create = ELBv2Backend.create_target_group

    def create_target_group(self: Any, name: str, **kwargs: Any) -> Any:
        if "--" not in name or name.startswith("-") or name.endswith("-"):
            return create(self, name, **kwargs)  # moto's own checks and errors apply
        if any(group.name == name for group in self.target_groups.values()):
            raise DuplicateTargetGroupName()
        group = create(self, name.replace("--", _PLACEHOLDER), **kwargs)
        return _renamed(self, group, name)

    setattr(ELBv2Backend, "create_target_group", create_target_group)  # noqa: B010


def _renamed(backend: Any, group: Any, name: str) -> Any:
    """The group under its real name; its ARN (which holds the name) and key follow."""
    old_arn = group.arn
    group.name = name
    group.arn = old_arn.replace(f"targetgroup/{_stand_in_of(old_arn)}/", f"targetgroup/{name}/")
    backend.target_groups.pop(old_arn, None)
    backend.target_groups[group.arn] = group
    return group


def _stand_in_of(arn: str) -> str:
    return arn.split("targetgroup/", 1)[1].split("/", 1)[0]
