"""indexes for ListServiceInstances sorted by lastDeploymentAttemptedAt or createdAt

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TIE_BREAKERS = ["service_name", "name", "id"]


def upgrade() -> None:
    with op.batch_alter_table("service_instances", schema=None) as batch_op:
        batch_op.create_index(
            "ix_service_instances_by_attempt", ["last_deployment_attempted_at", *_TIE_BREAKERS]
        )
        batch_op.create_index("ix_service_instances_by_creation", ["created_at", *_TIE_BREAKERS])


def downgrade() -> None:
    with op.batch_alter_table("service_instances", schema=None) as batch_op:
        batch_op.drop_index("ix_service_instances_by_creation")
        batch_op.drop_index("ix_service_instances_by_attempt")
