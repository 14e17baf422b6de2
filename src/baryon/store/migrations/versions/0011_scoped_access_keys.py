"""scoped access keys and the sections CodeBuild-style runs were given

A provisioning program (CodeBuild commands, Terraform) calls Baryon back with a key that may
act only on the resource it deploys and stops working by itself (auth/scoped_keys.py). The
CodeBuild provisioner keeps the files and commands of a resource's last run, so that deleting
the resource can run its ``deprovision`` commands without the bundle.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scoped_access_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("access_key_id", sa.String(length=128), nullable=False),
        sa.Column("secret_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("resource_arn", sa.String(length=1024), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scoped_access_keys")),
        sa.UniqueConstraint("access_key_id", name=op.f("uq_scoped_access_keys_access_key_id")),
    )
    with op.batch_alter_table("scoped_access_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_scoped_access_keys_expires_at"), ["expires_at"], unique=False
        )
    op.create_table(
        "codebuild_sections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_arn", sa.String(length=1024), nullable=False),
        sa.Column("section", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_codebuild_sections")),
        sa.UniqueConstraint("resource_arn", name=op.f("uq_codebuild_sections_resource_arn")),
    )


def downgrade() -> None:
    op.drop_table("codebuild_sections")
    with op.batch_alter_table("scoped_access_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scoped_access_keys_expires_at"))
    op.drop_table("scoped_access_keys")
