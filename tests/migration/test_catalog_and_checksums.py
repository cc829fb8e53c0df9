"""The two instruments the round-trip test relies on are sensitive: include.core.checksums notices any
change to a legacy row (and ignores the link columns), include.core.catalog notices any schema drift."""

from __future__ import annotations

import sqlalchemy as sa
from migration_helpers import LINK_ROWS_SQL, run_sql

from include.core import alembic_driver, catalog, checksums, settings


def test_legacy_checksums_see_every_row_change_but_not_the_link_columns(legacy_conn: sa.Connection) -> None:
    conn = legacy_conn
    original = checksums.legacy_checksums(conn)
    conn.commit()

    run_sql(conn, ["UPDATE invites SET status = 'accepted' WHERE id = 'inv-1'"])  # only the case differs
    assert checksums.compare(original, checksums.legacy_checksums(conn)) == [
        "invites: rows 3 -> 3, checksum changed"]
    run_sql(conn, ["UPDATE invites SET status = 'ACCEPTED' WHERE id = 'inv-1'"])
    assert checksums.legacy_checksums(conn) == original

    run_sql(conn, ["UPDATE chat_sessions SET session_metadata = '{\"k\": \"w\"}' WHERE id = 'cs-1'"])
    assert [d.split(":")[0] for d in checksums.compare(original, checksums.legacy_checksums(conn))] == [
        "chat_sessions"]
    run_sql(conn, ["UPDATE chat_sessions SET session_metadata = '{\"k\": \"v\"}' WHERE id = 'cs-1'"])

    run_sql(conn, ["INSERT INTO accounts (id, name) VALUES ('acct-3', 'East')"])
    assert "accounts: rows 2 -> 3" in checksums.compare(original, checksums.legacy_checksums(conn))[0]
    run_sql(conn, ["DELETE FROM accounts WHERE id = 'acct-3'"])
    conn.commit()

    # Rewriting every row (new physical order) and filling the link columns change nothing.
    alembic_driver.upgrade(conn, settings.REV_UPDATE_INVITES)
    run_sql(conn, [*LINK_ROWS_SQL, "UPDATE invites SET email = email", "UPDATE users SET name = name"])
    assert checksums.legacy_checksums(conn) == original


def test_the_catalog_snapshot_sees_defaults_nullability_validity_and_indexes(legacy_conn: sa.Connection) -> None:
    conn = legacy_conn
    before = catalog.snapshot(conn)
    conn.commit()
    run_sql(conn, [
        "ALTER TABLE accounts ALTER COLUMN status SET DEFAULT 'inactive'",
        "ALTER TABLE accounts ALTER COLUMN domain SET NOT NULL",
        "ALTER TABLE invites ADD CONSTRAINT ck_token CHECK (invite_token <> '') NOT VALID",
        "CREATE INDEX ix_users_role ON users (role)",
    ])
    drift = before.diff(catalog.snapshot(conn))
    assert any("missing column" in d and "'status'" in d for d in drift)
    assert any("unexpected column" in d and "'domain'" in d and "True" in d for d in drift)
    assert any("unexpected constraint" in d and "ck_token" in d and "False" in d for d in drift)
    assert any("unexpected index" in d and "ix_users_role" in d for d in drift)
    assert len(drift) == 2 * 2 + 2  # two changed columns (missing + unexpected each), one constraint, one index
