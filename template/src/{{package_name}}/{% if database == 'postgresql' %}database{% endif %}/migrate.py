"""`python -m <package> migrate` (factor XII): the schema to the newest migration.

Run by the release before the new version serves, and safe to run from several pods
at once: a PostgreSQL advisory lock lets one apply the migrations while the others
wait for it, and then find nothing left to do. Alembic's migrations live in the
`migrations` package, beside this one.
"""

from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, func, select
from sqlalchemy.pool import NullPool

from ..settings import SERVICE_NAME, DatabaseSettings
from .connection import MIGRATION_LOCK_KEY, connect_arguments, sqlalchemy_url

EXIT_MIGRATION_FAILED = 1
# Installed with the package, so the image migrates with the code it serves.
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"

logger = structlog.get_logger(__name__)


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, the same as pyproject.toml's `[tool.alembic]`; with a
    connection, migrations run on it (migrations/env.py)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(settings: DatabaseSettings) -> tuple[str | None, str | None]:
    """Apply every migration not yet applied; the revisions before and after."""
    # No statement timeout: a migration may rewrite a large table. One connection,
    # made for this run only.
    engine = create_engine(
        sqlalchemy_url(settings),
        poolclass=NullPool,
        connect_args=connect_arguments(settings, statement_timeout=False)
        | {"application_name": f"{SERVICE_NAME}-migrate"},
    )
    try:
        with engine.connect() as connection:
            # A session-level lock: held across the migrations' own transactions,
            # released by the unlock below, or by PostgreSQL if this process dies.
            connection.execute(select(func.pg_advisory_lock(MIGRATION_LOCK_KEY)))
            connection.commit()
            try:
                before = current_revision(connection)
                command.upgrade(alembic_config(connection), "head")
                connection.commit()
                return before, current_revision(connection)
            finally:
                connection.rollback()
                connection.execute(select(func.pg_advisory_unlock(MIGRATION_LOCK_KEY)))
                connection.commit()
    finally:
        engine.dispose()


def migrate_command(settings: DatabaseSettings) -> int:
    """`migrate`: one line saying what changed, or why it failed (then exit 1)."""
    try:
        before, after = upgrade(settings)
    except Exception as error:
        # One line, never a traceback, and never the URL's password: psycopg's
        # messages name the host and the user; SQLAlchemy's wrapper would add the SQL.
        cause = getattr(error, "orig", None) or error
        logger.error("migration failed", error=f"{type(cause).__name__}: {cause}")
        return EXIT_MIGRATION_FAILED
    if before == after:
        logger.info("database schema up to date", revision=after)
    else:
        logger.info("database migrated", from_revision=before, to_revision=after)
    return 0
