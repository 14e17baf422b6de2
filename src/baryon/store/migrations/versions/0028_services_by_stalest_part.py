"""resource_counts: services counted by their stalest part (SERVICE_STALEST), from the parts

How stale a service is depends only on the lowest version among its instances and pipeline
(store/resource_counts.py says why), so GetResourcesSummary counts services by that version
and reads a handful of rows instead of one per service and version. No schema change: the
rows are new buckets of resource_counts, filled here from the SERVICE_PART rows in plain SQL
so that it stays what it was when later code changes.

Revision ID: 0028
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

_FILL = (
    "INSERT INTO resource_counts (kind, template_id, service_id, major, minor, failed, resources)"
    " SELECT 'SERVICE_STALEST', template_id, 0, major, minor, false, COUNT(*) FROM ("
    " SELECT p.template_id, p.service_id, p.major, MIN(p.minor) AS minor FROM resource_counts p"
    " JOIN (SELECT template_id, service_id, MIN(major) AS major FROM resource_counts"
    " WHERE kind = 'SERVICE_PART' AND resources <> 0 GROUP BY template_id, service_id) lowest"
    " ON lowest.template_id = p.template_id AND lowest.service_id = p.service_id"
    " AND lowest.major = p.major"
    " WHERE p.kind = 'SERVICE_PART' AND p.resources <> 0"
    " GROUP BY p.template_id, p.service_id, p.major"
    ") stalest GROUP BY template_id, major, minor"
)


def upgrade() -> None:
    op.execute(sa.text(_FILL))


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM resource_counts WHERE kind = 'SERVICE_STALEST'"))
