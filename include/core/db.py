"""The one way to reach the application database.

Resolution order (first match wins):

1. ``AIRFLOW_CONN_GENASCOPE_DB`` in the environment (URI or Airflow's JSON form);
2. inside an Airflow task, the Airflow connection ``genascope_db`` (``airflow_settings.yaml`` declares it);
3. outside a task only (the CLI, alembic, the demo, the tests, the benchmarks): the embedded PostgreSQL
   under ``.pgdata/``.

A connection whose host is empty, or whose extra says ``{"embedded": true}``, names no server: outside a
task that means "the embedded default", so the CLI works on a new machine with nothing installed. Inside
a task it is an error (:class:`AppDatabaseNotConfigured`): an embedded server started by a task would be
private to that worker's disk (its own lease, its own data). ``make airflow`` and the demo start the
embedded server first and hand its address to Airflow as ``AIRFLOW_CONN_GENASCOPE_DB``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import psycopg
import sqlalchemy as sa

from include.core import embedded_db, settings

log = logging.getLogger(__name__)

ENV_CONN = "AIRFLOW_CONN_GENASCOPE_DB"


class AppDatabaseNotConfigured(RuntimeError):
    """Inside an Airflow task no connection names the application database's server."""


@dataclass(frozen=True)
class AppDatabase:
    """Where the application database is: a libpq URI and a PHI-free description of it."""

    uri: str
    source: str

    @property
    def sqlalchemy_url(self) -> str:
        return to_sqlalchemy_url(self.uri)

    def describe(self) -> str:
        parts = urlsplit(self.uri)
        host = parts.hostname or "unix socket"
        return f"{self.source}: database {parts.path.lstrip('/') or 'postgres'} on {host}"


def to_libpq_uri(uri: str) -> str:
    """Accept ``postgres://``, ``postgresql://`` and ``postgresql+psycopg://`` forms."""
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://", "postgres://"):
        if uri.startswith(prefix):
            return "postgresql://" + uri[len(prefix) :]
    return uri


def to_sqlalchemy_url(uri: str) -> str:
    return "postgresql+psycopg://" + to_libpq_uri(uri).split("://", 1)[1]


def with_database(uri: str, dbname: str) -> str:
    """The same server, another database."""
    parts = urlsplit(to_libpq_uri(uri))
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(dbname), parts.query, parts.fragment))


def database_name(uri: str) -> str:
    """The database a URI names (the inverse of :func:`with_database`; a socket folder in the query is
    not part of it)."""
    return unquote(urlsplit(to_libpq_uri(uri)).path.lstrip("/"))


def _uri_from_airflow_json(raw: str) -> str | None:
    data = json.loads(raw)
    extra = data.get("extra") or {}
    if isinstance(extra, str):
        extra = json.loads(extra or "{}")
    if not data.get("host") or str(extra.get("embedded", "")).lower() in {"true", "1", "yes"}:
        return None
    login = quote(data.get("login") or "", safe="")
    password = quote(data.get("password") or "", safe="")
    auth = f"{login}:{password}@" if password else (f"{login}@" if login else "")
    port = f":{data['port']}" if data.get("port") else ""
    return f"postgresql://{auth}{data['host']}{port}/{data.get('schema') or 'postgres'}"


def _uri_from_env() -> str | None:
    raw = os.environ.get(ENV_CONN, "").strip()
    if not raw:
        return None
    if raw.startswith("{"):
        return _uri_from_airflow_json(raw)
    uri = to_libpq_uri(raw)
    parts = urlsplit(uri)
    if not parts.hostname and "host=" not in parts.query:
        return None
    return uri


def in_airflow_task() -> bool:
    """True while an Airflow task runs in this process (or in a process a task started).

    The task runner exports ``AIRFLOW_CTX_DAG_ID`` and keeps the task's context on a stack; the export
    outlives the task in a process that ran ``dag.test()``, so where the Task SDK is loaded its context
    stack decides."""
    if not os.environ.get("AIRFLOW_CTX_DAG_ID"):
        return False
    contextmanager = sys.modules.get("airflow.sdk.definitions._internal.contextmanager")
    if contextmanager is None:
        return True  # a child process of a task (the SDK is not loaded here)
    return bool(getattr(contextmanager, "_CURRENT_CONTEXT", None))


def _not_configured(why: str) -> AppDatabaseNotConfigured:
    return AppDatabaseNotConfigured(
        f"this Airflow task has no application database: {why}. Inside a task the database must come from "
        f"the connection {settings.APP_DB_CONN_ID} (a host in the Airflow connection, or {ENV_CONN} in every "
        "worker's environment); a task never starts the embedded PostgreSQL, which would be private to this "
        "worker's disk. `make airflow` and `make airflow-celery` set the connection to the embedded server; "
        "on a deployment point it at the PostgreSQL server (docs/beyond-one-machine.md).")


def _uri_from_airflow_connection() -> str:
    """Inside a running Airflow task: the `genascope_db` connection's server (raises if it names none)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(settings.APP_DB_CONN_ID)
    except AirflowNotFoundException:
        raise _not_configured(f"neither {ENV_CONN} nor an Airflow connection {settings.APP_DB_CONN_ID} "
                              "exists") from None
    extra = conn.extra_dejson or {}
    if not conn.host or str(extra.get("embedded", "")).lower() in {"true", "1", "yes"}:
        raise _not_configured(f"the connection {settings.APP_DB_CONN_ID} names no server (no host, or "
                              "extra embedded: true)")
    return _uri_from_airflow_json(json.dumps({
        "host": conn.host, "port": conn.port, "login": conn.login,
        "password": conn.password, "schema": conn.schema,
    })) or ""


def resolve_app_database() -> AppDatabase:
    """Find the application database (see the module docstring) and say which one it is."""
    uri = _uri_from_env()
    if uri:
        return AppDatabase(uri, f"connection {settings.APP_DB_CONN_ID} ({ENV_CONN})")
    if in_airflow_task():
        if os.environ.get(ENV_CONN, "").strip():
            raise _not_configured(f"{ENV_CONN} names no server (no host, or extra embedded: true)")
        return AppDatabase(_uri_from_airflow_connection(), f"Airflow connection {settings.APP_DB_CONN_ID}")
    return AppDatabase(embedded_db.start(), f"embedded PostgreSQL ({settings.EMBEDDED_PGDATA})")


def embedded_connection_uri() -> str:
    """Start the embedded server and return its app database's URI, for ``AIRFLOW_CONN_GENASCOPE_DB``
    (``make airflow``, ``make airflow-celery``): the socket path, no password."""
    return embedded_db.start()


def create_engine(uri: str, **kwargs: object) -> sa.Engine:
    """Every SQLAlchemy engine of the project: psycopg 3, and ``hide_parameters=True`` so a statement
    error never prints bound values (row values are PHI). Use this instead of ``sa.create_engine``."""
    kwargs["hide_parameters"] = True
    return sa.create_engine(to_sqlalchemy_url(uri), **kwargs)


@lru_cache(maxsize=8)
def _engine_for(url: str) -> sa.Engine:
    return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=4)


def app_engine(uri: str | None = None) -> sa.Engine:
    """A pooled SQLAlchemy engine (psycopg 3) for the app DB, or for ``uri`` when given."""
    if uri is None:
        db = resolve_app_database()
        log.info("app database: %s", db.describe())
        uri = db.uri
    return _engine_for(to_libpq_uri(uri))


def psycopg_connect(uri: str | None = None, *, autocommit: bool = False) -> psycopg.Connection:
    """A raw psycopg 3 connection (for COPY); the caller closes it."""
    uri = to_libpq_uri(uri or resolve_app_database().uri)
    return psycopg.connect(uri, autocommit=autocommit, application_name="genascope_pipeline")


@contextmanager
def raw_connection(engine: sa.Engine) -> Iterator[psycopg.Connection]:
    """The psycopg connection under a pooled SQLAlchemy connection (for COPY), returned to the pool after."""
    with engine.connect() as conn:
        dbapi = conn.connection.dbapi_connection
        assert isinstance(dbapi, psycopg.Connection)
        yield dbapi
