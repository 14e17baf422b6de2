"""approvals and deletion protection: approval rules, held deployments, protected resources

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "approval_rules",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(length=300), nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_approval_rules")),
    )
    op.create_table(
        "approvals",
        sa.Column("deployment_id", sa.String(length=36), nullable=False),
        sa.Column("target_arn", sa.String(length=1024), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=300), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("decided_by", sa.String(length=300), nullable=True),
        sa.Column("decided_at", _WHEN, nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("deployment_id", name=op.f("pk_approvals")),
    )
    op.create_index("ix_approvals_listing", "approvals", ["status", "requested_at"])
    op.create_index(op.f("ix_approvals_target_arn"), "approvals", ["target_arn"])
    op.create_table(
        "deletion_protections",
        sa.Column("resource_arn", sa.String(length=1024), nullable=False),
        sa.Column("set_by", sa.String(length=300), nullable=False),
        sa.Column("set_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("resource_arn", name=op.f("pk_deletion_protections")),
    )


def downgrade() -> None:
    op.drop_table("deletion_protections")
    op.drop_index(op.f("ix_approvals_target_arn"), table_name="approvals")
    op.drop_index("ix_approvals_listing", table_name="approvals")
    op.drop_table("approvals")
    op.drop_table("approval_rules")
