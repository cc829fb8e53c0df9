"""The API's own connection pool on the app database (the same resolution as the DAGs: ``include.core.db``).

Every session starts with the API's ``statement_timeout`` and ``lock_timeout`` (libpq ``options``), so no
call can hold a connection, or wait for a lock, longer than the settings say; the application name
``genascope_intake_api`` makes its sessions visible in ``pg_stat_activity``.
"""

from __future__ import annotations

import sqlalchemy as sa

from include.api.settings import ApiSettings
from include.core import db


def create_engine(settings: ApiSettings, *, fast: bool = False) -> sa.Engine:
    """The API's pool. ``fast``: autocommit sessions without a ping per checkout (one round trip per
    one-statement call; the caller retries once when a pooled connection turns out to be gone)."""
    uri = settings.database_uri or db.resolve_app_database().uri
    options = f"-c statement_timeout={int(settings.statement_timeout_ms)} -c lock_timeout={int(settings.lock_timeout_ms)}"
    extra = {"isolation_level": "AUTOCOMMIT"} if fast else {}
    return db.create_engine(  # the connection's TLS extras are in the URI; TLS failures name the setting
        uri, pool_pre_ping=not fast, pool_size=settings.pool_size,
        max_overflow=settings.pool_size, pool_timeout=30,
        connect_args={"options": options, "application_name": "genascope_intake_api"}, **extra)
