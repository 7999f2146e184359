"""Apply the write schema's Alembic migrations to a database URL."""

from pathlib import Path

from alembic import command
from alembic.config import Config

INI = Path(__file__).with_name("alembic.ini")


def upgrade(database_url: str, revision: str = "head") -> None:
    config = Config(str(INI))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    command.upgrade(config, revision)
