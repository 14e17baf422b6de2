"""rollouts: staged fleet rollouts, their waves, targets, gate checks and events (issue 18)

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("template_kind", sa.String(length=16), nullable=False),
        sa.Column("template_name", sa.String(length=100), nullable=False),
        sa.Column("target_major", sa.Integer(), nullable=False),
        sa.Column("target_minor", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_message", sa.Text(), nullable=True),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("preview_hash", sa.String(length=64), nullable=True),
        sa.Column("preview_id", sa.String(length=64), nullable=True),
        sa.Column("current_wave", sa.Integer(), nullable=False),
        sa.Column("rollback_scope", sa.String(length=8), nullable=True),
        sa.Column("supersedes", sa.String(length=36), nullable=True),
        sa.Column("superseded_by", sa.String(length=36), nullable=True),
        sa.Column("created_by", sa.String(length=300), nullable=False),
        sa.Column("approved_by", sa.String(length=300), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("approved_at", _WHEN, nullable=True),
        sa.Column("started_at", _WHEN, nullable=True),
        sa.Column("finished_at", _WHEN, nullable=True),
        sa.Column("last_modified_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollouts")),
    )
    op.create_index("ix_rollouts_listing", "rollouts", ["created_at", "id"])
    op.create_index(op.f("ix_rollouts_template_name"), "rollouts", ["template_name"])
    op.create_index(op.f("ix_rollouts_state"), "rollouts", ["state"])
    op.create_table(
        "rollout_waves",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rollout_id", sa.String(length=36), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("bake_seconds", sa.Integer(), nullable=False),
        sa.Column("baked_seconds", sa.Float(), nullable=False),
        sa.Column("clock_started_at", _WHEN, nullable=True),
        sa.Column("started_at", _WHEN, nullable=True),
        sa.Column("finished_at", _WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["rollout_id"],
            ["rollouts.id"],
            name=op.f("fk_rollout_waves_rollout_id_rollouts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout_waves")),
        sa.UniqueConstraint("rollout_id", "number", name="uq_rollout_waves_number"),
    )
    op.create_table(
        "rollout_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rollout_id", sa.String(length=36), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("resource_arn", sa.String(length=1024), nullable=False),
        sa.Column("resource_kind", sa.String(length=32), nullable=False),
        sa.Column("environment_name", sa.String(length=100), nullable=False),
        sa.Column("service_name", sa.String(length=100), nullable=True),
        sa.Column("instance_name", sa.String(length=100), nullable=True),
        sa.Column("from_major", sa.Integer(), nullable=False),
        sa.Column("from_minor", sa.Integer(), nullable=False),
        sa.Column("baseline_deployment_id", sa.String(length=36), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("deployment_id", sa.String(length=36), nullable=True),
        sa.Column("rollback_deployment_id", sa.String(length=36), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rollout_id"],
            ["rollouts.id"],
            name=op.f("fk_rollout_targets_rollout_id_rollouts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout_targets")),
        sa.UniqueConstraint("rollout_id", "resource_arn", name="uq_rollout_targets_resource"),
    )
    op.create_index(
        "ix_rollout_targets_wave", "rollout_targets", ["rollout_id", "wave", "position"]
    )
    op.create_index(op.f("ix_rollout_targets_resource_arn"), "rollout_targets", ["resource_arn"])
    op.create_index(op.f("ix_rollout_targets_deployment_id"), "rollout_targets", ["deployment_id"])
    op.create_table(
        "rollout_gates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rollout_id", sa.String(length=36), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("gate", sa.String(length=32), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["rollout_id"],
            ["rollouts.id"],
            name=op.f("fk_rollout_gates_rollout_id_rollouts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout_gates")),
    )
    op.create_index("ix_rollout_gates_rollout", "rollout_gates", ["rollout_id", "id"])
    op.create_table(
        "rollout_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rollout_id", sa.String(length=36), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("actor", sa.String(length=300), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rollout_id"],
            ["rollouts.id"],
            name=op.f("fk_rollout_events_rollout_id_rollouts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout_events")),
    )
    op.create_index("ix_rollout_events_rollout", "rollout_events", ["rollout_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_rollout_events_rollout", table_name="rollout_events")
    op.drop_table("rollout_events")
    op.drop_index("ix_rollout_gates_rollout", table_name="rollout_gates")
    op.drop_table("rollout_gates")
    op.drop_index(op.f("ix_rollout_targets_deployment_id"), table_name="rollout_targets")
    op.drop_index(op.f("ix_rollout_targets_resource_arn"), table_name="rollout_targets")
    op.drop_index("ix_rollout_targets_wave", table_name="rollout_targets")
    op.drop_table("rollout_targets")
    op.drop_table("rollout_waves")
    op.drop_index(op.f("ix_rollouts_state"), table_name="rollouts")
    op.drop_index(op.f("ix_rollouts_template_name"), table_name="rollouts")
    op.drop_index("ix_rollouts_listing", table_name="rollouts")
    op.drop_table("rollouts")
