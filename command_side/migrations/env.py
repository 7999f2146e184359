"""Alembic environment: the URL comes from the caller (``semsearch migrate``) or DATABASE_URL."""

from alembic import context
from sqlalchemy import create_engine, pool

from command_side.schema import metadata
from command_side.settings import CommandSettings

url = context.config.get_main_option("sqlalchemy.url") or CommandSettings().database_url


def run() -> None:
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
