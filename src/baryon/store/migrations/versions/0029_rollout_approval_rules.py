"""rollout approval rules: which approval rules would hold a rollout's resources, per rollout,
wave and resource, and why (issue 16)

Revision ID: 0029
Revises: 0028
"""

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rollouts") as batch:
        batch.add_column(sa.Column("approval_rules", sa.JSON(none_as_null=True), nullable=True))
        batch.add_column(sa.Column("approval_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("rollout_waves") as batch:
        batch.add_column(sa.Column("approval_rules", sa.JSON(none_as_null=True), nullable=True))
    with op.batch_alter_table("rollout_targets") as batch:
        batch.add_column(sa.Column("approval_rules", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rollout_targets") as batch:
        batch.drop_column("approval_rules")
    with op.batch_alter_table("rollout_waves") as batch:
        batch.drop_column("approval_rules")
    with op.batch_alter_table("rollouts") as batch:
        batch.drop_column("approval_reason")
        batch.drop_column("approval_rules")
