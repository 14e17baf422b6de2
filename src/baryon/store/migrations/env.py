"""Alembic environment: runs on the connection Database.migrate hands over."""

from alembic import context
from sqlalchemy import create_engine

from baryon.store.tables import Base, UtcDateTime

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url"))
        with engine.connect() as own:
            _migrate(own)
            own.commit()
        return
    _migrate(connection)


def _render_item(kind: str, obj: object, autogen_context) -> str | bool:  # type: ignore[no-untyped-def]
    # Migrations stay free of application types: UtcDateTime is a plain aware DateTime.
    if kind == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _migrate(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
