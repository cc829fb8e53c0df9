"""The API's own connection pool on the app database (the same resolution as the DAGs: ``include.core.db``).

Every session starts with the API's ``statement_timeout`` and ``lock_timeout`` (libpq ``options``), so no
call can hold a connection, or wait for a lock, longer than the settings say; the application name
``genascope_intake_api`` makes its sessions visible in ``pg_stat_activity``.
"""

from __future__ import annotations

import sqlalchemy as sa

from include.api.async_sessions import AsyncSessions
from include.api.settings import ApiSettings
from include.core import db

APPLICATION_NAME = "genascope_intake_api"


def database_uri(settings: ApiSettings) -> str:
    return settings.database_uri or db.resolve_app_database().uri


def session_options(settings: ApiSettings) -> str:
    """libpq ``options`` of every API session: its statement and lock timeouts."""
    return f"-c statement_timeout={int(settings.statement_timeout_ms)} -c lock_timeout={int(settings.lock_timeout_ms)}"


def create_engine(settings: ApiSettings, *, fast: bool = False) -> sa.Engine:
    """The API's pool. ``fast``: autocommit sessions without a ping per checkout (one round trip per
    one-statement call; the caller retries once when a pooled connection turns out to be gone)."""
    extra = {"isolation_level": "AUTOCOMMIT"} if fast else {}
    return db.create_engine(  # the connection's TLS extras are in the URI; TLS failures name the setting
        database_uri(settings), pool_pre_ping=not fast, pool_size=settings.pool_size,
        max_overflow=settings.pool_size, pool_timeout=30,
        connect_args={"options": session_options(settings), "application_name": APPLICATION_NAME}, **extra)


def create_sessions(settings: ApiSettings) -> AsyncSessions:
    """The event loop's sessions for the single create (as many as the pool keeps plus its overflow)."""
    return AsyncSessions(database_uri(settings), size=2 * settings.pool_size, options=session_options(settings),
                         application_name=APPLICATION_NAME)
