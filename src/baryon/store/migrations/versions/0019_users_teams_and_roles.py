"""users and robots, teams, role grants, and the owner of every access key

Users get a kind (person or robot), a display name, an email and an OpenID Connect identity
(issuer and subject, unique). Teams hold users; roles are granted to users and to teams. An
access key acts as its owner.

Existing installs keep working as before, when everyone could do anything: every existing user
is granted the admin role, and the built-in robot ``admin`` (role admin) owns every existing
key. Should a person already be called ``admin``, that person owns them instead (they are an
admin too).

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="person", nullable=False)
        )
        batch_op.add_column(sa.Column("display_name", sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column("email", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("oidc_issuer", sa.String(length=1024), nullable=True))
        batch_op.add_column(sa.Column("oidc_subject", sa.String(length=255), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_users_oidc_issuer"), ["oidc_issuer", "oidc_subject"]
        )
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
    )
    op.create_table(
        "team_members",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("from_sign_in", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_team_members_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_team_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("team_id", "user_id", name=op.f("pk_team_members")),
    )
    with op.batch_alter_table("team_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_team_members_user_id"), ["user_id"], unique=False)
    op.create_table(
        "user_role_grants",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_role_grants_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "role", name=op.f("pk_user_role_grants")),
    )
    op.create_table(
        "team_role_grants",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_team_role_grants_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("team_id", "role", name=op.f("pk_team_role_grants")),
    )
    with op.batch_alter_table("access_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_access_keys_owner_id"), ["owner_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_access_keys_owner_id_users"),
            "users",
            ["owner_id"],
            ["id"],
            ondelete="CASCADE",
        )
    # Everyone could do anything before: every existing user stays an admin.
    op.execute("INSERT INTO user_role_grants (user_id, role) SELECT id, 'admin' FROM users")
    op.execute(
        "INSERT INTO users (name, password_hash, kind, failed_sign_ins, created_at,"
        " password_changed_at) SELECT 'admin', '', 'robot', 0, CURRENT_TIMESTAMP,"
        " CURRENT_TIMESTAMP WHERE NOT EXISTS (SELECT 1 FROM users WHERE name = 'admin')"
    )
    op.execute(
        "INSERT INTO user_role_grants (user_id, role) SELECT id, 'admin' FROM users"
        " WHERE name = 'admin' AND NOT EXISTS (SELECT 1 FROM user_role_grants g"
        " WHERE g.user_id = users.id AND g.role = 'admin')"
    )
    op.execute(
        "UPDATE access_keys SET owner_id = (SELECT id FROM users WHERE name = 'admin')"
        " WHERE account_id IS NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("access_keys", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_access_keys_owner_id_users"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_access_keys_owner_id"))
        batch_op.drop_column("owner_id")
    op.drop_table("team_role_grants")
    op.drop_table("user_role_grants")
    op.drop_table("team_members")
    op.drop_table("teams")
    op.execute("DELETE FROM users WHERE kind = 'robot'")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_users_oidc_issuer"), type_="unique")
        batch_op.drop_column("oidc_subject")
        batch_op.drop_column("oidc_issuer")
        batch_op.drop_column("email")
        batch_op.drop_column("display_name")
        batch_op.drop_column("kind")
