"""resource_counts: maintained counts for GetResourcesSummary, filled from the rows

One row per bucket (kind of resource, template, deployed version, service for the parts a
service is as stale as, failed or not); store/resource_counts.py keeps it in step with every
flush. The fill below is plain SQL so that it stays what it was when later code changes.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_FAILED = "('FAILED', 'DELETE_FAILED')"
_FILL = [
    # Templates, by kind.
    "SELECT CASE kind WHEN 'ENVIRONMENT' THEN 'ENVIRONMENT_TEMPLATE' ELSE 'SERVICE_TEMPLATE' END,"
    " 0, 0, 0, 0, false, COUNT(*) FROM templates GROUP BY kind",
    "SELECT 'ENVIRONMENT', template_id, 0, template_major, template_minor,"
    f" deployment_status IN {_FAILED}, COUNT(*) FROM environments GROUP BY 2, 3, 4, 5, 6",
    "SELECT 'SERVICE_INSTANCE', template_id, 0, template_major, template_minor,"
    f" deployment_status IN {_FAILED}, COUNT(*) FROM service_instances GROUP BY 2, 3, 4, 5, 6",
    "SELECT 'SERVICE_PIPELINE', s.template_id, 0, p.template_major, p.template_minor,"
    f" p.deployment_status IN {_FAILED}, COUNT(*) FROM service_pipelines p"
    " JOIN services s ON s.id = p.service_id GROUP BY 2, 3, 4, 5, 6",
    "SELECT 'SERVICE_PART', template_id, service_id, major, minor, false, COUNT(*) FROM ("
    " SELECT template_id, service_id, template_major AS major, template_minor AS minor"
    " FROM service_instances UNION ALL"
    " SELECT s.template_id, p.service_id, p.template_major, p.template_minor"
    " FROM service_pipelines p JOIN services s ON s.id = p.service_id"
    ") parts GROUP BY 2, 3, 4, 5",
    "SELECT 'SERVICE', template_id, 0, 0, 0, status LIKE '%FAILED%', COUNT(*) FROM services"
    " GROUP BY 2, 6",
    f"SELECT 'COMPONENT', 0, 0, 0, 0, deployment_status IN {_FAILED}, COUNT(*) FROM components"
    " GROUP BY 6",
]


def upgrade() -> None:
    op.create_table(
        "resource_counts",
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("template_id", sa.BigInteger(), nullable=False),
        sa.Column("service_id", sa.BigInteger(), nullable=False),
        sa.Column("major", sa.BigInteger(), nullable=False),
        sa.Column("minor", sa.BigInteger(), nullable=False),
        sa.Column("failed", sa.Boolean(), nullable=False),
        sa.Column("resources", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "kind",
            "template_id",
            "service_id",
            "major",
            "minor",
            "failed",
            name=op.f("pk_resource_counts"),
        ),
    )
    columns = "kind, template_id, service_id, major, minor, failed, resources"
    for counted in _FILL:
        op.execute(sa.text(f"INSERT INTO resource_counts ({columns}) {counted}"))


def downgrade() -> None:
    op.drop_table("resource_counts")
