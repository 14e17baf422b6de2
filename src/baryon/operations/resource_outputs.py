"""The outputs and provisioned resources every deployed resource lists the same way."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from baryon.domain.deployments import Deployable, outputs_of
from baryon.domain.errors import NotFound
from baryon.service_models import proton
from baryon.store.tables import Deployment, ProvisionedResourceRow


def outputs(
    session: Session, arn: str, resource: Deployable, deployment_id: str | None
) -> list[proton.Output]:
    """The outputs of ``deployment_id``, or of the resource's last successful deployment."""
    if deployment_id is not None:
        deployment = session.get(Deployment, deployment_id)
        if deployment is None or deployment.target_arn != arn:
            raise NotFound(f"The deployment '{deployment_id}' of '{arn}' was not found.")
    else:
        deployment_id = resource.last_succeeded_deployment_id
    return [
        {"key": key, "valueString": value}
        for key, value in outputs_of(session, deployment_id).items()
    ]


def provisioned_resources(session: Session, arn: str) -> list[proton.ProvisionedResource]:
    rows = session.scalars(
        select(ProvisionedResourceRow)
        .where(ProvisionedResourceRow.resource_arn == arn)
        .order_by(ProvisionedResourceRow.name)
    )
    return [
        {
            "name": row.name,
            "identifier": row.identifier,
            "provisioningEngine": proton.ProvisionedResourceEngine(row.engine),
        }
        for row in rows
    ]
