"""deployments.rollback_failed and provisioned_resources.simulated

A deployment whose engine could not roll back (CloudFormation's UPDATE_ROLLBACK_FAILED) says
so, so that ContinueUpdateRollback is refused for any other resource without asking the cloud
from the API; a provisioned resource the local cloud only simulated says so, so that no page
claims it is real. Both default to false for the rows already there.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "deployments",
        sa.Column("rollback_failed", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "provisioned_resources",
        sa.Column("simulated", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("provisioned_resources", "simulated")
    op.drop_column("deployments", "rollback_failed")
