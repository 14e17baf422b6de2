"""imports from AWS Proton: the import records and the items of their plans

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("source_bucket", sa.String(length=63), nullable=False),
        sa.Column("source_key", sa.String(length=1024), nullable=False),
        sa.Column(
            "include_account_stacks", sa.Boolean(), server_default=sa.false(), nullable=False
        ),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("last_modified_at", _WHEN, nullable=False),
        sa.Column("completed_at", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imports")),
    )
    op.create_index("ix_imports_created", "imports", ["created_at", "id"], unique=False)
    op.create_table(
        "import_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("resource_type", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("template_version", sa.String(length=41), nullable=True),
        sa.Column("stack_name", sa.String(length=128), nullable=True),
        sa.Column("stack_id", sa.String(length=1024), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("applied_at", _WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["imports.id"],
            name=op.f("fk_import_items_import_id_imports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_items")),
        sa.UniqueConstraint("import_id", "position", name="uq_import_items_position"),
    )
    op.create_index(
        "ix_import_items_resource", "import_items", ["resource_type", "name"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_import_items_resource", table_name="import_items")
    op.drop_table("import_items")
    op.drop_index("ix_imports_created", table_name="imports")
    op.drop_table("imports")
