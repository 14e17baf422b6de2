"""environment account connections, and the account an access key acts for

An environment account requests a connection with a key of its own (``access_keys.account_id``;
None keeps every existing key the management account's); the management account accepts or
rejects it, and environments that name an accepted connection deploy into that account.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("access_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_id", sa.String(length=12), nullable=True))
    op.create_table(
        "environment_account_connections",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("arn", sa.String(length=1024), nullable=False),
        sa.Column("environment_account_id", sa.String(length=12), nullable=False),
        sa.Column("management_account_id", sa.String(length=12), nullable=False),
        sa.Column("environment_name", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("role_arn", sa.String(length=2048), nullable=True),
        sa.Column("codebuild_role_arn", sa.String(length=2048), nullable=True),
        sa.Column("component_role_arn", sa.String(length=2048), nullable=True),
        sa.Column("requested_at", _WHEN, nullable=False),
        sa.Column("last_modified_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_environment_account_connections")),
        sa.UniqueConstraint("arn", name=op.f("uq_environment_account_connections_arn")),
    )
    with op.batch_alter_table("environment_account_connections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_environment_account_connections_environment_account_id"),
            ["environment_account_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_environment_account_connections_environment_name"),
            ["environment_name"],
            unique=False,
        )
        batch_op.create_index(
            "ix_environment_account_connections_listing", ["requested_at", "id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("environment_account_connections")
    with op.batch_alter_table("access_keys", schema=None) as batch_op:
        batch_op.drop_column("account_id")
