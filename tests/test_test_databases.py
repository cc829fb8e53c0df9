"""The test suite's own databases are really dropped, on the embedded server (socket URI, whose query
names a folder with slashes) as on a TCP server: a leaked database per test filled the embedded data
folder before."""

from __future__ import annotations

import psycopg

from include.core import db
from tests.conftest import create_database, drop_database


def test_the_database_name_of_socket_and_tcp_uris():
    assert db.database_name("postgresql://postgres:@/gs_test_1?host=/work/x/.pgdata") == "gs_test_1"
    assert db.database_name("postgresql+psycopg://u:p@127.0.0.1:5432/app%20db?sslmode=disable") == "app db"
    assert db.database_name(db.with_database("postgresql://postgres@/postgres?host=/a/b", "other")) == "other"


def test_a_test_database_is_gone_after_its_drop(pg_server):
    uri = create_database(pg_server)
    name = db.database_name(uri)
    drop_database(pg_server, uri)
    with psycopg.connect(pg_server, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,)).fetchone()[0] == 0
