"""include.core.legacy_contract: the baseline revision creates exactly the contract of docs/contracts/data-model.md §1,
and every kind of drift from it is reported."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from migration_helpers import run_sql

from include.core import alembic_driver, catalog, legacy_contract, settings


def test_the_baseline_revision_creates_exactly_the_contract(legacy_engine: sa.Engine) -> None:
    with legacy_engine.connect() as conn:
        assert legacy_contract.differences(conn) == []
        legacy_contract.verify(conn)
        snap = catalog.snapshot(conn, list(legacy_contract.LEGACY_COLUMNS))
    live = {(t, c): (ty, nn) for t, c, ty, nn, _ in snap.columns}
    expected = {(t, c): (ty, nn) for t, cols in legacy_contract.LEGACY_COLUMNS.items() for c, ty, nn in cols}
    assert live == expected


def test_a_drifted_schema_reports_every_difference(legacy_engine: sa.Engine) -> None:
    with legacy_engine.connect() as conn:
        run_sql(conn, [
            "ALTER TABLE users ALTER COLUMN role TYPE varchar(64)",          # changed type
            "ALTER TABLE invites DROP COLUMN accepted_at",                   # missing column
            "ALTER TABLE chat_sessions ADD COLUMN archived boolean",         # extra column
            "ALTER TABLE accounts ALTER COLUMN domain SET NOT NULL",         # changed nullability
            "ALTER TABLE chat_messages DROP CONSTRAINT chat_messages_pkey",  # no primary key
            "DROP TABLE patient_profiles",                                   # missing table
        ])
        found = legacy_contract.differences(conn)
        with pytest.raises(legacy_contract.LegacySchemaMismatch) as mismatch:
            legacy_contract.verify(conn)
    assert sorted(found) == sorted([
        "users.role: type character varying(64), expected character varying(32)",
        "missing column invites.accepted_at (timestamp without time zone)",
        "unexpected column chat_sessions.archived",
        "accounts.domain: NOT NULL, expected nullable",
        "chat_messages: no PRIMARY KEY (id)",
        "missing table patient_profiles",
    ])
    assert mismatch.value.differences == found
    assert "nothing was changed" in str(mismatch.value)


def test_the_link_columns_of_the_upgrades_are_not_drift(legacy_engine: sa.Engine) -> None:
    with legacy_engine.connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_UPDATE_INVITES)
        assert legacy_contract.differences(conn) == []


def test_the_baseline_has_the_keys_defaults_and_indexes_of_the_data_model(legacy_engine: sa.Engine) -> None:
    """What §1 says beyond names and types (legacy_contract checks only those)."""
    with legacy_engine.connect() as conn:
        snap = catalog.snapshot(conn, list(legacy_contract.LEGACY_COLUMNS))
    cons = {(t, d) for t, _, _, d, _ in snap.constraints}
    assert {
        ("users", "UNIQUE (email)"),
        ("patient_profiles", "UNIQUE (user_id)"),
        ("patient_profiles", "FOREIGN KEY (user_id) REFERENCES users(id)"),
        ("invites", "FOREIGN KEY (clinician_id) REFERENCES users(id)"),
        ("invites", "FOREIGN KEY (user_id) REFERENCES users(id)"),
        ("chat_sessions", "FOREIGN KEY (user_id) REFERENCES users(id)"),
        ("chat_messages", "FOREIGN KEY (session_id) REFERENCES chat_sessions(id)"),
    } <= cons
    # No FK where production has none, and no unique constraint on invite_token / accounts.domain.
    assert not any(t == "users" and d.startswith("FOREIGN KEY") for t, d in cons)
    assert not any(t == "invites" and "invite_token" in d for t, d in cons)
    assert not any(t == "accounts" and d.startswith("UNIQUE") for t, d in cons)
    assert [(t, n) for t, n, d, _ in snap.indexes if "email" in d and t == "invites"] == [("invites", "ix_invites_email")]
    defaults = {(t, c): d for t, c, _, _, d in snap.columns if d is not None}
    assert defaults[("accounts", "status")] == "'active'::character varying"
    assert defaults[("users", "is_active")] == "true"
    assert all(defaults[(t, "created_at")] == "now()" for t in legacy_contract.LEGACY_COLUMNS)
    assert all(defaults[(t, "updated_at")] == "now()" for t in legacy_contract.LEGACY_COLUMNS if t != "chat_messages")
