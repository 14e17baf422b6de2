"""drift: drift checks of deployed resources and the drift items they found

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "drift_checks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("resource_arn", sa.String(length=1024), nullable=False),
        sa.Column("resource_kind", sa.String(length=16), nullable=False),
        sa.Column("resource_name", sa.String(length=100), nullable=False),
        sa.Column("service_name", sa.String(length=100), nullable=True),
        sa.Column("template_name", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("method", sa.String(length=32), nullable=True),
        sa.Column("resources_checked", sa.Integer(), nullable=False),
        sa.Column("resources_not_checked", sa.Integer(), nullable=False),
        sa.Column("drifted_items", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(length=300), nullable=False),
        sa.Column("requested_at", _WHEN, nullable=False),
        sa.Column("completed_at", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_checks")),
    )
    op.create_index("ix_drift_checks_resource", "drift_checks", ["resource_arn", "requested_at"])
    op.create_index(op.f("ix_drift_checks_template_name"), "drift_checks", ["template_name"])
    op.create_table(
        "drift_items",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("resource_arn", sa.String(length=1024), nullable=False),
        sa.Column("template_name", sa.String(length=100), nullable=False),
        sa.Column("check_id", sa.String(length=36), nullable=False),
        sa.Column("logical_id", sa.String(length=256), nullable=False),
        sa.Column("resource_type", sa.String(length=256), nullable=False),
        sa.Column("physical_id", sa.String(length=2048), nullable=True),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("expected", sa.Text(), nullable=True),
        sa.Column("actual", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("binding", sa.String(length=16), nullable=False),
        sa.Column("input_name", sa.String(length=200), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("open_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("first_seen_at", _WHEN, nullable=False),
        sa.Column("last_seen_at", _WHEN, nullable=False),
        sa.Column("decided_by", sa.String(length=300), nullable=True),
        sa.Column("decided_at", _WHEN, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("ignore_until", _WHEN, nullable=True),
        sa.Column("deployment_id", sa.String(length=36), nullable=True),
        sa.Column("closed_at", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_items")),
        sa.UniqueConstraint("open_fingerprint", name=op.f("uq_drift_items_open_fingerprint")),
    )
    op.create_index("ix_drift_items_resource", "drift_items", ["resource_arn", "status"])
    op.create_index(op.f("ix_drift_items_fingerprint"), "drift_items", ["fingerprint"])
    op.create_index(op.f("ix_drift_items_template_name"), "drift_items", ["template_name"])


def downgrade() -> None:
    op.drop_table("drift_items")
    op.drop_table("drift_checks")
