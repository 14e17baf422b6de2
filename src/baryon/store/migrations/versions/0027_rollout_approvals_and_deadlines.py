"""rollout approvals and deadlines: waves that wait for a person, targets past their deadline,
and rollback deployments found by id (a deployment's end wakes its rollout) (issue 18)

Revision ID: 0027
Revises: 0026
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rollout_waves") as batch:
        batch.add_column(
            sa.Column("requires_approval", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("approved_by", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("rollout_targets") as batch:
        batch.add_column(
            sa.Column("past_deadline", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_index(
            op.f("ix_rollout_targets_rollback_deployment_id"), ["rollback_deployment_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("rollout_targets") as batch:
        batch.drop_index(op.f("ix_rollout_targets_rollback_deployment_id"))
        batch.drop_column("past_deadline")
    with op.batch_alter_table("rollout_waves") as batch:
        batch.drop_column("approved_at")
        batch.drop_column("approved_by")
        batch.drop_column("requires_approval")
