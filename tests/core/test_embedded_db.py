"""The embedded default: the first start of a new data folder already runs with the project's settings."""

from __future__ import annotations

import psycopg

from include.core import embedded_db


def test_a_new_embedded_server_runs_with_its_memory_settings_from_the_first_start(tmp_path):
    pgdata = tmp_path / "pgdata"
    try:
        uri = embedded_db.start_server(pgdata)
        with psycopg.connect(uri) as conn:
            settings = dict(conn.execute(
                "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)",
                (list(embedded_db.SERVER_SETTINGS),)).fetchall())
            pending = conn.execute("SELECT count(*) FROM pg_settings WHERE pending_restart").fetchone()[0]
        assert settings == embedded_db.SERVER_SETTINGS
        assert pending == 0
        # attaching again neither restarts nor changes anything
        assert embedded_db.start_server(pgdata) == uri
    finally:
        embedded_db.stop(pgdata)
