"""audit_records and audit_chain_head: the audit trail, a hash chain per region

Every change and every denied call is one record (store/audit_records.py); the head row
(id 1) names the last record, starting from none: sequence 0 and a hash of zeros.

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_records",
        sa.Column("sequence", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("recorded_at", _WHEN, nullable=False),
        sa.Column("principal", sa.String(300), nullable=False),
        sa.Column("principal_kind", sa.String(16), nullable=False),
        sa.Column("door", sa.String(16), nullable=False),
        sa.Column("service", sa.String(16), nullable=False),
        sa.Column("operation", sa.String(100), nullable=False),
        sa.Column("resources", sa.Text(), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(100), nullable=True),
        sa.Column("spec_diff", sa.Text(), nullable=True),
        sa.Column("previous_hash", sa.String(64), nullable=False),
        sa.Column("record_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("sequence", name=op.f("pk_audit_records")),
    )
    for column in ("recorded_at", "principal", "operation", "result"):
        op.create_index(op.f(f"ix_audit_records_{column}"), "audit_records", [column])
    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("record_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.bulk_insert(head, [{"id": 1, "sequence": 0, "record_hash": GENESIS_HASH}])


def downgrade() -> None:
    op.drop_table("audit_chain_head")
    for column in ("recorded_at", "principal", "operation", "result"):
        op.drop_index(op.f(f"ix_audit_records_{column}"), table_name="audit_records")
    op.drop_table("audit_records")
