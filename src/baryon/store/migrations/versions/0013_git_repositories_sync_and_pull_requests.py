"""git: connections, repositories, watched branches, template and service sync, pull requests

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("arn", sa.String(length=1024), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("base_url", sa.String(length=1024), nullable=True),
        sa.Column("secrets_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connections")),
        sa.UniqueConstraint("arn", name=op.f("uq_connections_arn")),
        sa.UniqueConstraint("name", name=op.f("uq_connections_name")),
    )
    op.create_table(
        "repositories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("arn", sa.String(length=1024), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("connection_arn", sa.String(length=1024), nullable=False),
        sa.Column("encryption_key", sa.String(length=1024), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repositories")),
        sa.UniqueConstraint("arn", name=op.f("uq_repositories_arn")),
        sa.UniqueConstraint("provider", "name", name="uq_repositories_provider_name"),
    )
    op.create_index(
        op.f("ix_repositories_connection_arn"), "repositories", ["connection_arn"], unique=False
    )
    op.create_table(
        "repository_branches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repository_provider", sa.String(length=32), nullable=False),
        sa.Column("repository_name", sa.String(length=100), nullable=False),
        sa.Column("branch", sa.String(length=200), nullable=False),
        sa.Column("last_sha", sa.String(length=64), nullable=True),
        sa.Column("checked_at", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repository_branches")),
        sa.UniqueConstraint(
            "repository_provider", "repository_name", "branch", name="uq_repository_branches"
        ),
    )
    op.create_table(
        "template_sync_configs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("template_type", sa.String(length=16), nullable=False),
        sa.Column("template_name", sa.String(length=100), nullable=False),
        sa.Column("repository_provider", sa.String(length=32), nullable=False),
        sa.Column("repository_name", sa.String(length=100), nullable=False),
        sa.Column("branch", sa.String(length=200), nullable=False),
        sa.Column("subdirectory", sa.String(length=4096), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("last_modified_at", _WHEN, nullable=False),
        sa.Column("sync_job_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_template_sync_configs")),
        sa.UniqueConstraint("template_type", "template_name", name="uq_template_sync_configs"),
    )
    op.create_table(
        "service_sync_configs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_name", sa.String(length=100), nullable=False),
        sa.Column("repository_provider", sa.String(length=32), nullable=False),
        sa.Column("repository_name", sa.String(length=100), nullable=False),
        sa.Column("branch", sa.String(length=200), nullable=False),
        sa.Column("file_path", sa.String(length=4096), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("last_modified_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_sync_configs")),
        sa.UniqueConstraint("service_name", name=op.f("uq_service_sync_configs_service_name")),
    )
    op.create_table(
        "sync_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sync_type", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=512), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", _WHEN, nullable=False),
        sa.Column("initial_revision", sa.JSON(), nullable=True),
        sa.Column("target_revision", sa.JSON(), nullable=True),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_attempts")),
    )
    op.create_index(
        "ix_sync_attempts_target",
        "sync_attempts",
        ["sync_type", "scope", "target", "id"],
        unique=False,
    )
    op.create_table(
        "sync_blockers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("service_name", sa.String(length=100), nullable=False),
        sa.Column("service_instance_name", sa.String(length=100), nullable=True),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_reason", sa.Text(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("resolved_reason", sa.Text(), nullable=True),
        sa.Column("resolved_at", _WHEN, nullable=True),
        sa.Column("contexts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_blockers")),
    )
    op.create_index(
        "ix_sync_blockers_service", "sync_blockers", ["service_name", "status"], unique=False
    )
    op.create_table(
        "pull_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.String(length=36), nullable=False),
        sa.Column("resource_arn", sa.String(length=1024), nullable=False),
        sa.Column("repository_provider", sa.String(length=32), nullable=False),
        sa.Column("repository_name", sa.String(length=100), nullable=False),
        sa.Column("base_branch", sa.String(length=200), nullable=False),
        sa.Column("head_branch", sa.String(length=250), nullable=False),
        sa.Column("head_sha", sa.String(length=64), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("deletion", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("opened_at", _WHEN, nullable=False),
        sa.Column("merged_at", _WHEN, nullable=True),
        sa.Column("closed_at", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pull_requests")),
        sa.UniqueConstraint("deployment_id", name=op.f("uq_pull_requests_deployment_id")),
    )
    op.create_index(
        op.f("ix_pull_requests_resource_arn"), "pull_requests", ["resource_arn"], unique=False
    )
    op.create_index(
        "ix_pull_requests_open", "pull_requests", ["state", "repository_name"], unique=False
    )


def downgrade() -> None:
    for table in (
        "pull_requests",
        "sync_blockers",
        "sync_attempts",
        "service_sync_configs",
        "template_sync_configs",
        "repository_branches",
        "repositories",
        "connections",
    ):
        op.drop_table(table)
