"""imports: an import from the account alone has no export, so its source is NULL

Imports of the account alone were stored with an empty bucket and key; they become NULL.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("imports", schema=None) as batch_op:
        batch_op.alter_column("source_bucket", existing_type=sa.String(63), nullable=True)
        batch_op.alter_column("source_key", existing_type=sa.String(1024), nullable=True)
    op.execute("UPDATE imports SET source_bucket = NULL, source_key = NULL WHERE source_key = ''")


def downgrade() -> None:
    op.execute("UPDATE imports SET source_bucket = '', source_key = '' WHERE source_key IS NULL")
    with op.batch_alter_table("imports", schema=None) as batch_op:
        batch_op.alter_column("source_bucket", existing_type=sa.String(63), nullable=False)
        batch_op.alter_column("source_key", existing_type=sa.String(1024), nullable=False)
