"""Alembic environment: runs migrations on the engine handed over by `directory.schema`."""

from alembic import context

from directory.models import Base

config = context.config
engine = config.attributes["engine"]


def include_object(obj, name, type_, reflected, compare_to):
    # Managed by hand in migrations, outside the models: the SQLite R*Tree index and its shadow
    # tables, kept in step by triggers.
    return not (type_ == "table" and name.startswith("center_locations"))


with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
