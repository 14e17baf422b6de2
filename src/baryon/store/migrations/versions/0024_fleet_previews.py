"""fleet previews: previews of a change to many resources, kept change sets and plans

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "fleet_previews",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=300), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("completed_at", _WHEN, nullable=True),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("approved_by", sa.String(length=300), nullable=True),
        sa.Column("approved_at", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fleet_previews")),
    )
    op.create_table(
        "fleet_preview_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("preview_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("resource_kind", sa.String(length=16), nullable=False),
        sa.Column("resource_name", sa.String(length=100), nullable=False),
        sa.Column("service_name", sa.String(length=100), nullable=True),
        sa.Column("target_arn", sa.String(length=1024), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("template_version_id", sa.Integer(), nullable=True),
        sa.Column("target_major", sa.Integer(), nullable=True),
        sa.Column("target_minor", sa.Integer(), nullable=True),
        sa.Column("spec", sa.Text(), nullable=True),
        sa.Column("inputs", sa.JSON(), nullable=True),
        sa.Column("basis", sa.String(length=64), nullable=False),
        sa.Column("diff", sa.JSON(), nullable=True),
        sa.Column("engine", sa.String(length=16), nullable=True),
        sa.Column("change_set_id", sa.String(length=1024), nullable=True),
        sa.Column("resource_changes", sa.JSON(), nullable=True),
        sa.Column("plan_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("risks", sa.JSON(), nullable=True),
        sa.Column("signature", sa.String(length=64), nullable=True),
        sa.Column("deployment_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["preview_id"],
            ["fleet_previews.id"],
            name=op.f("fk_fleet_preview_items_preview_id_fleet_previews"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fleet_preview_items")),
    )
    op.create_index(
        "ix_fleet_preview_items_listing", "fleet_preview_items", ["preview_id", "position"]
    )
    op.create_index(op.f("ix_fleet_preview_items_signature"), "fleet_preview_items", ["signature"])
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("fleet_preview_item_id", sa.Integer(), nullable=True))
        batch.create_index(op.f("ix_deployments_fleet_preview_item_id"), ["fleet_preview_item_id"])


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_index(op.f("ix_deployments_fleet_preview_item_id"))
        batch.drop_column("fleet_preview_item_id")
    op.drop_index(op.f("ix_fleet_preview_items_signature"), table_name="fleet_preview_items")
    op.drop_index("ix_fleet_preview_items_listing", table_name="fleet_preview_items")
    op.drop_table("fleet_preview_items")
    op.drop_table("fleet_previews")
