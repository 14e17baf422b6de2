"""applied sections: the CodeBuild provisioner's kept sections become every engine's

Terraform, like CodeBuild, needs what a resource last applied when the resource is deleted
(its provider blocks and variables), and the bundle is not read for a delete. The table the
CodeBuild provisioner kept its last runs in becomes one both provisioners share, keyed by
engine and resource; existing rows are CodeBuild's.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_KEPT = "resource_arn, section, status, outputs, updated_at"


def upgrade() -> None:
    op.create_table(
        "applied_sections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("engine", sa.String(length=32), nullable=False),
        sa.Column("resource_arn", sa.String(length=1024), nullable=False),
        sa.Column("section", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applied_sections")),
        sa.UniqueConstraint("engine", "resource_arn", name="uq_applied_sections_engine_resource"),
    )
    op.execute(
        f"INSERT INTO applied_sections (engine, {_KEPT}) "
        f"SELECT 'codebuild', {_KEPT} FROM codebuild_sections"
    )
    op.drop_table("codebuild_sections")


def downgrade() -> None:
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
    # Terraform's kept configurations have nowhere to go before this revision.
    op.execute(
        f"INSERT INTO codebuild_sections ({_KEPT}) "
        f"SELECT {_KEPT} FROM applied_sections WHERE engine = 'codebuild'"
    )
    op.drop_table("applied_sections")
