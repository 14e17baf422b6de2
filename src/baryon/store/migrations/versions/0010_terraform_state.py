"""terraform state: every state version of a resource, its lock, and each deployment's plan

Terraform run by Baryon keeps its state in Baryon (its HTTP state backend), never on a
worker's disk: every version written is kept (encrypted under the master key, since state
holds secrets), one lock per resource names the deployment that holds it so that a run
resumed after a crash can take it over, and the plan a deployment applied is kept with it.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "terraform_state_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_arn", sa.String(length=1024), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("written_by", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_terraform_state_versions")),
        sa.UniqueConstraint("resource_arn", "version", name="uq_terraform_state_versions_version"),
    )
    op.create_table(
        "terraform_state_locks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_arn", sa.String(length=1024), nullable=False),
        sa.Column("lock_id", sa.String(length=128), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("info", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_terraform_state_locks")),
        sa.UniqueConstraint("resource_arn", name=op.f("uq_terraform_state_locks_resource_arn")),
    )
    op.create_table(
        "terraform_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.String(length=36), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("plan_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_terraform_plans_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_terraform_plans")),
        sa.UniqueConstraint("deployment_id", name=op.f("uq_terraform_plans_deployment_id")),
    )


def downgrade() -> None:
    op.drop_table("terraform_plans")
    op.drop_table("terraform_state_locks")
    op.drop_table("terraform_state_versions")
