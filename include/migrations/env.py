"""Alembic environment: one transaction per migration, lock-safe session settings, bounded retries.

Online runs use the connection handed in by the migration driver (``config.attributes["connection"]``)
or open one from :func:`include.core.db.resolve_app_database`. Offline runs (``--sql``) print PostgreSQL DDL.
"""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import context

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from include.core import db, db_errors, locks, settings  # noqa: E402

config = context.config
if config.config_file_name and config.attributes.get("configure_logger", True):
    from logging.config import fileConfig

    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _x_int(name: str, default: int) -> int:
    value = context.get_x_argument(as_dictionary=True).get(name)
    if value is None:
        value = config.attributes.get(name)
    return int(value) if value is not None else default


def run_migrations_offline() -> None:
    context.configure(
        url="postgresql+psycopg://",
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        transaction_per_migration=True,
    )
    # The same session settings the online path applies, so the reviewed script is lock-safe too.
    for statement in locks.session_settings_sql(
        _x_int("lock_timeout_ms", settings.DEFAULT_LOCK_TIMEOUT_MS),
        _x_int("statement_timeout_ms", settings.DEFAULT_STATEMENT_TIMEOUT_MS),
    ).split("; "):
        context.execute(statement)
    with context.begin_transaction():
        context.run_migrations()


def _run(connection) -> None:
    lock_timeout_ms = _x_int("lock_timeout_ms", settings.DEFAULT_LOCK_TIMEOUT_MS)
    statement_timeout_ms = _x_int("statement_timeout_ms", settings.DEFAULT_STATEMENT_TIMEOUT_MS)

    def attempt() -> None:
        locks.apply_session_settings(connection, lock_timeout_ms, statement_timeout_ms)
        if connection.in_transaction():
            connection.commit()
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
        if connection.in_transaction():
            connection.commit()

    def on_exhausted() -> str:
        if connection.in_transaction():
            connection.rollback()
        try:
            return locks.describe_blockers(connection, settings.LEGACY_TABLES + ("patients",))
        finally:
            connection.rollback()

    try:
        locks.retry_on_lock_timeout(
            attempt, what="alembic", attempts=_x_int("lock_retries", settings.DEFAULT_LOCK_RETRIES),
            on_exhausted=on_exhausted,
        )
    finally:
        # Leave a caller's (possibly pooled) connection as we found it.
        if connection.in_transaction():
            connection.rollback()
        locks.reset_session_settings(connection)
        connection.commit()


def run_migrations_online() -> None:
    shared = config.attributes.get("connection")
    if shared is not None:
        _run(shared)
        return
    app = db.resolve_app_database()
    print(f"alembic: using {app.describe()}", file=sys.stderr)
    engine = db.app_engine(app.uri)
    # The alembic CLI prints what escapes: database errors leave without row values (DETAIL) or
    # parameters. (Through the migration driver, the DAG task's own wrapper does the same.)
    with db_errors.db_step("alembic"), engine.connect() as connection:
        _run(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
