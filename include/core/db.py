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

The connection's extras that are libpq parameters (``sslmode``, ``sslrootcert``, ``sslcert``, ``sslkey``,
``connect_timeout``, ``target_session_attrs``, … :data:`LIBPQ_EXTRAS`) become query parameters of the URI,
so they reach psycopg everywhere (tasks, CLI, plugin, API); other extras (Airflow's own, a provider's) are
not libpq's and are left out. A TLS failure is raised as :class:`AppDatabaseTLSError` naming the setting.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import psycopg
import sqlalchemy as sa

from include.core import embedded_db, settings
from include.core.errors import GenascopeError

log = logging.getLogger(__name__)

ENV_CONN = "AIRFLOW_CONN_GENASCOPE_DB"


#: libpq connection parameters an Airflow connection's extra (or its URI's query) may set; they are
#: passed to psycopg unchanged. ``host``/``port``/``user``/``password``/``dbname`` come from the connection's
#: own fields (``hostaddr`` may be given in the extra to skip the DNS lookup of ``host``).
LIBPQ_EXTRAS = frozenset({
    "sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword", "sslcrl", "sslcrldir", "sslsni",
    "sslcompression", "sslcertmode", "sslnegotiation", "ssl_min_protocol_version", "ssl_max_protocol_version",
    "requirepeer", "require_auth", "channel_binding", "gssencmode", "gsslib", "gssdelegation", "krbsrvname",
    "connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
    "tcp_user_timeout", "target_session_attrs", "load_balance_hosts", "hostaddr", "options",
    "application_name", "fallback_application_name", "client_encoding", "passfile", "service",
})
#: The extra that marks a connection naming no server (the embedded default outside a task).
EMBEDDED_EXTRA = "embedded"


class AppDatabaseNotConfigured(GenascopeError, RuntimeError):
    """Inside an Airflow task (or on the api-server) no connection names the application database's server."""


class AppDatabaseTLSError(GenascopeError, psycopg.OperationalError):
    """TLS to the application database failed; the message names the connection setting to fix."""


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
        sslmode = dict(parse_qsl(parts.query)).get("sslmode")
        tls = f" (sslmode {sslmode})" if sslmode else ""
        return f"{self.source}: database {parts.path.lstrip('/') or 'postgres'} on {host}{tls}"


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


def _is_embedded_marker(value: object) -> bool:
    return str(value if value is not None else "").lower() in {"true", "1", "yes"}


def libpq_params(extra: dict[str, object]) -> dict[str, str]:
    """The libpq parameters among a connection's extras (see :data:`LIBPQ_EXTRAS`), as strings."""
    out: dict[str, str] = {}
    for key, value in extra.items():
        if key in LIBPQ_EXTRAS and value is not None and value != "":
            out[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def _with_query(uri: str, params: dict[str, str]) -> str:
    if not params:
        return uri
    parts = urlsplit(uri)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(params)
    encoded = urlencode(query, safe="/:", quote_via=quote)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, encoded, parts.fragment))


def uri_from_connection_fields(host: str | None, port: object, login: str | None, password: str | None,
                               schema: str | None, extra: dict[str, object] | None) -> str | None:
    """A libpq URI from an Airflow connection's fields and extras; None when it names no server (no host,
    or extra ``embedded: true``)."""
    extra = extra or {}
    if not host or _is_embedded_marker(extra.get(EMBEDDED_EXTRA)):
        return None
    login_q = quote(login or "", safe="")
    password_q = quote(password or "", safe="")
    auth = f"{login_q}:{password_q}@" if password else (f"{login_q}@" if login else "")
    port_s = f":{port}" if port else ""
    host_s = f"[{host}]" if ":" in host and not host.startswith("[") else host
    uri = f"postgresql://{auth}{host_s}{port_s}/{quote(schema or 'postgres', safe='')}"
    return _with_query(uri, libpq_params(extra))


def _uri_from_airflow_json(raw: str) -> str | None:
    data = json.loads(raw)
    extra = data.get("extra") or {}
    if isinstance(extra, str):
        extra = json.loads(extra or "{}")
    return uri_from_connection_fields(data.get("host"), data.get("port"), data.get("login"),
                                      data.get("password"), data.get("schema"), extra)


def _uri_from_airflow_uri(raw: str) -> str | None:
    """Airflow's URI form: extras are query parameters (or one ``__extra__`` JSON parameter); the libpq
    ones are kept, Airflow's and providers' are dropped (libpq refuses unknown parameters)."""
    parts = urlsplit(to_libpq_uri(raw))
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    extra: dict[str, object] = {}
    if "__extra__" in query:
        loaded = json.loads(query.pop("__extra__") or "{}")
        extra.update(loaded if isinstance(loaded, dict) else {})
    extra.update(query)
    if _is_embedded_marker(extra.get(EMBEDDED_EXTRA)):
        return None
    kept = libpq_params(extra)
    for key in ("host", "port", "user", "password", "dbname"):  # libpq's own, e.g. a socket folder as host
        if key in query:
            kept[key] = query[key]
    if not parts.hostname and "host" not in kept:
        return None
    if kept == query:  # nothing to drop: the URI as given
        return urlunsplit(parts)
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return _with_query(base, kept)


def _uri_from_env() -> str | None:
    raw = os.environ.get(ENV_CONN, "").strip()
    if not raw:
        return None
    if raw.startswith("{"):
        return _uri_from_airflow_json(raw)
    return _uri_from_airflow_uri(raw)


def in_airflow_task() -> bool:
    """True while an Airflow task runs in this process (or in a process a task started).

    The task runner exports ``AIRFLOW_CTX_DAG_ID``; the export outlives the task in a process that ran
    ``dag.test()``, so where the Task SDK's context is loaded its current context decides
    (:func:`_task_context_active`)."""
    if not os.environ.get("AIRFLOW_CTX_DAG_ID"):
        return False
    active = _task_context_active()
    return True if active is None else active  # None: a child process of a task (no SDK context here)


#: The Task SDK module that holds the current task context; only its presence in ``sys.modules`` is read.
_SDK_CONTEXT_MODULE = "airflow.sdk.definitions._internal.contextmanager"


def _task_context_active() -> bool | None:
    """Whether the Task SDK has a current task context, through its public ``get_current_context`` (which
    raises when no task runs); None when the SDK's context is not loaded in this process at all.
    tests/core/test_airflow_interfaces.py fails loudly if either changes with an Airflow upgrade."""
    if _SDK_CONTEXT_MODULE not in sys.modules:
        return None
    from airflow.sdk import get_current_context

    try:
        get_current_context()
    except Exception:  # AirflowException "no context was found" (the SDK's only answer for "none")
        return False
    return True


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
    uri = uri_from_connection_fields(conn.host, conn.port, conn.login, conn.password, conn.schema,
                                     conn.extra_dejson)
    if not uri:
        raise _not_configured(f"the connection {settings.APP_DB_CONN_ID} names no server (no host, or "
                              "extra embedded: true)")
    return uri


def server_app_database() -> AppDatabase:
    """The application database for a server process (the plugin on the api-server, the intake API):
    ``AIRFLOW_CONN_GENASCOPE_DB``, else the Airflow connection from the metadata DB or secrets backend.
    Never the embedded server: a missing connection is :class:`AppDatabaseNotConfigured`."""
    uri = _uri_from_env()
    if uri:
        return AppDatabase(uri, f"connection {settings.APP_DB_CONN_ID} ({ENV_CONN})")
    if os.environ.get(ENV_CONN, "").strip():
        raise AppDatabaseNotConfigured(f"{ENV_CONN} names no server (no host, or extra embedded: true); the "
                                       "api-server never starts or resolves the embedded PostgreSQL")
    try:
        from airflow.models import Connection  # the api-server has no task-SDK context

        conn = Connection.get_connection_from_secrets(settings.APP_DB_CONN_ID)  # noqa: AIR311
    except Exception as exc:  # AirflowNotFoundException, or no metadata DB reachable
        raise AppDatabaseNotConfigured(
            f"no Airflow connection {settings.APP_DB_CONN_ID} ({type(exc).__name__}) and no {ENV_CONN}: "
            "point the connection at the PostgreSQL server (docs/deploying.md); the api-server never starts "
            "or resolves the embedded PostgreSQL") from None
    uri = uri_from_connection_fields(conn.host, conn.port, conn.login, conn.password, conn.schema,
                                     conn.extra_dejson)
    if not uri:
        raise AppDatabaseNotConfigured(
            f"the Airflow connection {settings.APP_DB_CONN_ID} names no server (no host, or extra embedded: "
            "true); the api-server never starts or resolves the embedded PostgreSQL")
    return AppDatabase(uri, f"Airflow connection {settings.APP_DB_CONN_ID}")


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


def tls_error(exc: psycopg.OperationalError, uri: str) -> AppDatabaseTLSError | None:
    """A connection failure that is TLS's, restated naming the connection setting to fix (None otherwise).
    The message carries host names, file paths and libpq's reason, never a password."""
    text = str(exc)
    params = dict(parse_qsl(urlsplit(to_libpq_uri(uri)).query))
    mode = params.get("sslmode", "prefer")
    where = f"connection {settings.APP_DB_CONN_ID}"
    if "does not match host name" in text or "server certificate for" in text:
        why = (f"the server's certificate does not name the host this connection uses (sslmode={mode} checks "
               "the host name): set the connection's host to a name in the certificate, or ask for a "
               "certificate that names this host")
    elif "certificate verify failed" in text or "self-signed certificate" in text or "unknown ca" in text:
        why = (f"the server's certificate is not signed by the CA in the extra sslrootcert="
               f"{params.get('sslrootcert', '(default ~/.postgresql/root.crt)')} (sslmode={mode})")
    elif "root certificate file" in text:
        why = (f"the extra sslrootcert names a file that does not exist or cannot be read "
               f"({params.get('sslrootcert', '~/.postgresql/root.crt')}; sslmode={mode})")
    elif "certificate file" in text or "private key file" in text:
        why = ("the client certificate or key (extras sslcert / sslkey) cannot be read or does not match "
               "(the key must be owner-only, 0600)")
    elif "server does not support SSL" in text:
        why = f"the server does not offer TLS but sslmode={mode} requires it"
    else:
        return None
    err = AppDatabaseTLSError(f"TLS to the application database failed ({where}): {why}. libpq said: "
                              f"{text.strip().splitlines()[-1] if text.strip() else type(exc).__name__}")
    return err


def _connect_restating_tls(open_connection: Callable[[], Any], libpq_uri: str) -> Any:
    """Open a connection; a TLS failure is restated as :class:`AppDatabaseTLSError` naming the setting."""
    try:
        return open_connection()
    except AppDatabaseTLSError:
        raise
    except psycopg.OperationalError as exc:
        restated = tls_error(exc, libpq_uri)
        if restated is None:
            raise
        raise restated from exc


def connect(uri: str, **kwargs: object) -> psycopg.Connection:
    """``psycopg.connect`` with TLS failures restated (:class:`AppDatabaseTLSError`)."""
    return _connect_restating_tls(lambda: psycopg.connect(uri, **kwargs), uri)


def create_engine(uri: str, **kwargs: object) -> sa.Engine:
    """Every SQLAlchemy engine of the project: psycopg 3, and ``hide_parameters=True`` so a statement
    error never prints bound values (row values are PHI). Use this instead of ``sa.create_engine``.
    A TLS failure while connecting surfaces as :class:`AppDatabaseTLSError` (wrapped by SQLAlchemy)."""
    kwargs["hide_parameters"] = True
    engine = sa.create_engine(to_sqlalchemy_url(uri), **kwargs)
    libpq_uri = to_libpq_uri(uri)

    @sa.event.listens_for(engine, "do_connect")
    def _connect(dialect, conn_rec, cargs, cparams):  # noqa: ARG001 (SQLAlchemy's signature)
        return _connect_restating_tls(lambda: dialect.connect(*cargs, **cparams), libpq_uri)

    return engine


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
    return connect(uri, autocommit=autocommit, application_name="genascope_pipeline")


@contextmanager
def raw_connection(engine: sa.Engine) -> Iterator[psycopg.Connection]:
    """The psycopg connection under a pooled SQLAlchemy connection (for COPY), returned to the pool after."""
    with engine.connect() as conn:
        dbapi = conn.connection.dbapi_connection
        assert isinstance(dbapi, psycopg.Connection)
        yield dbapi
