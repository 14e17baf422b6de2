"""rollbacks: deployments.reverses_deployment_id, the deployment a rollback takes back (issue 18)

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("reverses_deployment_id", sa.String(length=36), nullable=True))
        batch.create_index(
            op.f("ix_deployments_reverses_deployment_id"), ["reverses_deployment_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_index(op.f("ix_deployments_reverses_deployment_id"))
        batch.drop_column("reverses_deployment_id")
