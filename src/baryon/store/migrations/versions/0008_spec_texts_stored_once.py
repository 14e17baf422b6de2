"""spec texts stored once, in spec_texts, named by their SHA-256

Services, environments, service instances and pipelines held the whole spec text each, and so
did every deployment's target and initial state. The texts move to spec_texts (key: SHA-256 of
the text) and the rows keep the key; a deployment state keeps ``"spec": null`` in the spec's
place. Columns are dropped in place (SQLite 3.35+), not by Alembic's batch copy of the table,
which the foreign keys naming these tables refuse once they hold rows. The logic is written
out here, not imported, so that this migration does tomorrow what it does today.

Revision ID: 0008
Revises: 0007
"""

import hashlib
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_PAGE = 500
# Table -> whether its spec column was NOT NULL.
_RESOURCES = {
    "environments": False,
    "services": True,
    "service_instances": False,
    "service_pipelines": False,
}
_STATES = {"initial_state": "initial_spec_key", "target_state": "target_spec_key"}

_spec_texts = sa.table("spec_texts", sa.column("key", sa.String(64)), sa.column("text", sa.Text()))


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _pages(connection: sa.Connection, table: sa.TableClause, *columns: str) -> Any:
    after: Any = None
    while True:
        query = sa.select(*(table.c[name] for name in ("id", *columns))).order_by(table.c.id)
        if after is not None:
            query = query.where(table.c.id > after)
        rows = connection.execute(query.limit(_PAGE)).all()
        if not rows:
            return
        yield rows
        after = rows[-1][0]


class _Texts:
    """Writes each text once (the table is new: what this migration wrote is all there is)."""

    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection
        self.written: set[str] = set()

    def key(self, text: str) -> str:
        key = _key(text)
        if key not in self.written:
            self.connection.execute(sa.insert(_spec_texts).values(key=key, text=text))
            self.written.add(key)
        return key

    def text(self, key: str) -> str:
        return str(
            self.connection.execute(
                sa.select(_spec_texts.c.text).where(_spec_texts.c.key == key)
            ).scalar_one()
        )


def _one_entry(state: Any) -> tuple[str, dict[str, Any]] | None:
    if isinstance(state, dict) and len(state) == 1:
        ((name, entry),) = state.items()
        if isinstance(entry, dict):
            return name, entry
    return None


def upgrade() -> None:
    op.create_table(
        "spec_texts",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_spec_texts")),
    )
    connection = op.get_bind()
    texts = _Texts(connection)
    for name in _RESOURCES:
        op.add_column(name, sa.Column("spec_key", sa.String(64), nullable=True))
        op.create_index(op.f(f"ix_{name}_spec_key"), name, ["spec_key"])
        table = sa.table(
            name,
            sa.column("id", sa.Integer()),
            sa.column("spec", sa.Text()),
            sa.column("spec_key", sa.String(64)),
        )
        for rows in _pages(connection, table, "spec"):
            for row_id, spec in rows:
                if spec is not None:
                    connection.execute(
                        sa.update(table)
                        .where(table.c.id == row_id)
                        .values(spec_key=texts.key(spec))
                    )
        op.drop_column(name, "spec")

    for key_column in _STATES.values():
        op.add_column("deployments", sa.Column(key_column, sa.String(64), nullable=True))
        op.create_index(op.f(f"ix_deployments_{key_column}"), "deployments", [key_column])
    deployments = sa.table(
        "deployments",
        sa.column("id", sa.String(36)),
        *(sa.column(state, sa.JSON()) for state in _STATES),
        *(sa.column(key, sa.String(64)) for key in _STATES.values()),
    )
    for rows in _pages(connection, deployments, *_STATES):
        for row_id, *states in rows:
            values: dict[str, Any] = {}
            for (state_column, key_column), state in zip(_STATES.items(), states, strict=True):
                entry = _one_entry(state)
                if entry and isinstance(entry[1].get("spec"), str):
                    name, body = entry
                    values[key_column] = texts.key(body["spec"])
                    values[state_column] = {name: {**body, "spec": None}}
            if values:
                connection.execute(
                    sa.update(deployments).where(deployments.c.id == row_id).values(**values)
                )


def downgrade() -> None:
    connection = op.get_bind()
    texts = _Texts(connection)
    deployments = sa.table(
        "deployments",
        sa.column("id", sa.String(36)),
        *(sa.column(state, sa.JSON()) for state in _STATES),
        *(sa.column(key, sa.String(64)) for key in _STATES.values()),
    )
    for rows in _pages(connection, deployments, *_STATES, *_STATES.values()):
        for row_id, *values_read in rows:
            states, keys = values_read[: len(_STATES)], values_read[len(_STATES) :]
            values: dict[str, Any] = {}
            for state_column, state, key in zip(_STATES, states, keys, strict=True):
                entry = _one_entry(state)
                if key is not None and entry:
                    name, body = entry
                    values[state_column] = {name: {**body, "spec": texts.text(key)}}
            if values:
                connection.execute(
                    sa.update(deployments).where(deployments.c.id == row_id).values(**values)
                )
    for key_column in _STATES.values():
        op.drop_index(op.f(f"ix_deployments_{key_column}"), table_name="deployments")
    for key_column in _STATES.values():
        op.drop_column("deployments", key_column)

    for name, not_null in _RESOURCES.items():
        op.add_column(name, sa.Column("spec", sa.Text(), nullable=True))
        table = sa.table(
            name,
            sa.column("id", sa.Integer()),
            sa.column("spec", sa.Text()),
            sa.column("spec_key", sa.String(64)),
        )
        for rows in _pages(connection, table, "spec_key"):
            for row_id, key in rows:
                if key is not None:
                    connection.execute(
                        sa.update(table).where(table.c.id == row_id).values(spec=texts.text(key))
                    )
        op.drop_index(op.f(f"ix_{name}_spec_key"), table_name=name)
        op.drop_column(name, "spec_key")
        # SQLite cannot make a column NOT NULL in place, and copying the table (Alembic's batch
        # mode) breaks the foreign keys that name it: there the column stays nullable.
        if not_null and connection.dialect.name != "sqlite":
            op.alter_column(name, "spec", existing_type=sa.Text(), nullable=False)
    op.drop_table("spec_texts")
