"""adopted stacks: CloudFormation stacks Baryon manages without having created them

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "adopted_stacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_arn", sa.String(length=1024), nullable=False),
        sa.Column("engine", sa.String(length=32), nullable=False),
        sa.Column("stack_name", sa.String(length=128), nullable=False),
        sa.Column("stack_id", sa.String(length=1024), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("adopted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adopted_stacks")),
        sa.UniqueConstraint("resource_arn", name=op.f("uq_adopted_stacks_resource_arn")),
        sa.UniqueConstraint("stack_id", name=op.f("uq_adopted_stacks_stack_id")),
    )
    op.create_index(
        op.f("ix_adopted_stacks_stack_name"), "adopted_stacks", ["stack_name"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_adopted_stacks_stack_name"), table_name="adopted_stacks")
    op.drop_table("adopted_stacks")
