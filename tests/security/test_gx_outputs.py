"""The migration's GX gate: ephemeral context (no great_expectations.yml, no connection string on disk),
Data Docs in the owner-only run folder, and a failed identity expectation that shows no key sample."""

from __future__ import annotations

import sqlalchemy as sa

from include.core import alembic_driver, pipeline_schema, private_files, settings
from include.gates import gx_gates

DUPLICATE = ("dup.person@mail.example", "Dupli", "Cated")


def _files(folder):
    return [p for p in folder.rglob("*") if p.is_file()]


def test_a_failed_identity_gate_leaves_no_key_sample_and_no_connection_string(engine, fresh_db, tmp_path):
    with engine.connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_UPDATE_PATIENTS)
        pipeline_schema.ensure(conn)  # the key form's functions (the migration's preflight creates them)
        conn.commit()
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO accounts (id, name) VALUES ('acct-gx', 'GX clinic')"))
        # the unique index would refuse the duplicate; without it the GX expectation is the last line
        conn.execute(sa.text("DROP INDEX ux_patients_identity_key"))
        for pid in ("gx-1", "gx-2"):  # the same identity twice: the uniqueness expectation fails
            conn.execute(sa.text(
                "INSERT INTO patients (id, account_id, email, first_name, last_name, status) "
                "VALUES (:id, 'acct-gx', :e, :f, :l, 'pending')"),
                {"id": pid, "e": DUPLICATE[0], "f": DUPLICATE[1], "l": DUPLICATE[2]})
        digest = conn.execute(sa.text(gx_gates.IDENTITY_QUERY)).scalar()
    run_dir = private_files.ensure_dir(tmp_path / "runs" / "patient_first_migration" / "run_1")

    results = gx_gates.validate_migration(fresh_db, run_dir)

    identity = [r for r in results if "identity_digest" in r.rule]
    assert identity and not identity[0].passed and identity[0].violations == 2
    files = _files(tmp_path / "runs")
    assert gx_gates.data_docs_index(run_dir) in files  # Data Docs are still produced, in the run folder
    assert not [p for p in files if p.name == "great_expectations.yml"]
    text = "".join(p.read_text(errors="replace") for p in files)
    assert "unexpected" in text  # we read the validation results themselves
    for secret in (digest, *DUPLICATE, "postgresql+psycopg://", db_name(fresh_db)):
        assert secret not in text, f"{secret[:12]}… found in the GX output"
    modes = {p: private_files.mode_of(p) for p in (run_dir / "gx").rglob("*")}
    assert {m for p, m in modes.items() if p.is_file()} == {0o600}
    assert {m for p, m in modes.items() if p.is_dir()} == {0o700}


def db_name(uri: str) -> str:
    from include.core import db

    return db.database_name(uri)
