"""Apply Alembic migrations programmatically (`securemail migrate`, tests, first start)."""

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from securemail.store.db import Database

SCRIPT_LOCATION = "securemail.store:migrations"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def _upgrade(connection: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


async def upgrade(db: Database) -> None:
    """Bring the database to the newest schema; safe to run again."""
    async with db.engine.connect() as conn:
        await conn.run_sync(_upgrade)
        await conn.commit()


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        return await conn.run_sync(_current)
