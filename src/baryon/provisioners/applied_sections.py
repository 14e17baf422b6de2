"""What a provisioner that runs programs asks of the store about what it last applied to a
resource (store/applied_sections.AppliedSections): the files, commands and role of its last
run, so that a delete, which reads no bundle, runs with them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from baryon.provisioners.base import Outcome, OutcomeStatus, ProvisioningEngine


class SavedRun(Protocol):
    @property
    def section(self) -> Mapping[str, Any]: ...

    @property
    def status(self) -> str: ...

    @property
    def outputs(self) -> Mapping[str, str]: ...


class AppliedSections(Protocol):
    """One engine's kept sections, by resource ARN."""

    def last(self, resource_arn: str) -> SavedRun | None: ...

    def save(
        self,
        resource_arn: str,
        section: Mapping[str, Any],
        status: str,
        outputs: Mapping[str, str],
    ) -> None: ...

    def forget(self, resource_arn: str) -> None: ...

    def reported_outputs(self, deployment_id: str) -> dict[str, str]:
        """What the deployment's commands reported with NotifyResourceDeploymentStatusChange."""
        ...


# The composition root's way to the store: an engine -> that engine's kept sections.
AppliedSectionsFor = Callable[[ProvisioningEngine], AppliedSections]


def kept_status(sections: AppliedSections, resource_arn: str) -> Outcome | None:
    """Where a resource stands by what its last run left (`Provisioner.status`); None when
    nothing is kept for it."""
    last = sections.last(resource_arn)
    if last is None:
        return None
    return Outcome(
        OutcomeStatus(last.status), outputs=dict(last.outputs), engine_status=last.status
    )
