"""rollout pauses and rollback approvals: when a rollout's pause began and each resource's
deadline (moved by pauses), who asked for a rollback and which approval rules hold each
resource's rollback deployment

Revision ID: 0030
Revises: 0029
"""

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rollouts") as batch:
        batch.add_column(sa.Column("rollback_requested_by", sa.String(300), nullable=True))
        batch.add_column(sa.Column("rollback_approval_hours", sa.Float(), nullable=True))
        batch.add_column(sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("rollout_targets") as batch:
        batch.add_column(sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("rollback_approval_rules", sa.JSON(none_as_null=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("rollout_targets") as batch:
        batch.drop_column("rollback_approval_rules")
        batch.drop_column("deadline_at")
    with op.batch_alter_table("rollouts") as batch:
        batch.drop_column("paused_at")
        batch.drop_column("rollback_approval_hours")
        batch.drop_column("rollback_requested_by")
