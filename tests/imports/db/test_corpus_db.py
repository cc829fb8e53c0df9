"""Every case of the bad-input corpus through the whole database path (COPY, decisions, quarantine, hold,
gate, merge, ledger): a file-level rejection imports nothing; anything else reconciles
(rows read = inserted + updated + unchanged + duplicates + quarantined) or is held back whole.
Cases with ``db_expect`` (owned by the database side) must also give those outcomes, e.g.::

    db_expect: {status: done, inserted: 2, duplicates: 1, quarantined_by_reason: {identity_conflict: 1}}

Keys: status, reason_code, rows_read, inserted, updated, unchanged, duplicates, quarantined, review_items,
held_back, field_issue_rows, unsupported_messages, quarantined_by_reason / field_issues_by_reason (exact
mappings); ``reason_message_contains`` (a substring of the operator's message, which must also be in the
ledger and the sidecar); ``patients`` (the account's patients ordered by external id, each a subset of
columns); ``review`` (the file's review items as sorted [kind, detail] pairs); ``change_reasons`` (the
file's changes per reason in ``import_changes``, exact mapping).
Every rejected or held file carries a reason_message in the result, the ledger and the sidecar."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from include.core import alembic_driver, db, pipeline_schema, report_models, settings
from include.imports import file_import
from tests.conftest import create_database, drop_database
from tests.imports.readers.test_corpus import MANIFEST, TODAY, _input, _source

DB_EXPECT_KEYS = {"status", "reason_code", "rows_read", "inserted", "updated", "unchanged", "duplicates",
                  "quarantined", "review_items", "held_back", "quarantined_by_reason", "field_issue_rows",
                  "field_issues_by_reason", "unsupported_messages"}
QUERY_KEYS = {"reason_message_contains", "patients", "review", "change_reasons"}
PATIENT_COLUMNS = "external_id, first_name, last_name, email, phone, date_of_birth, status"


@pytest.fixture(scope="module")
def corpus_engine(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    """One database for all corpus cases (each case gets its own account, so cases cannot interact)."""
    uri = create_database(pg_server, "gs_corpus")
    engine = sa.create_engine(db.to_sqlalchemy_url(uri))
    with engine.connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_UPDATE_PATIENTS)
        pipeline_schema.ensure(conn)
    try:
        yield engine
    finally:
        engine.dispose()
        drop_database(pg_server, uri)


@pytest.mark.parametrize("case", MANIFEST["cases"], ids=[c["id"] for c in MANIFEST["cases"]])
def test_corpus_case_through_the_database(case: dict[str, Any], corpus_engine: sa.Engine, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "RUNS_DIR", tmp_path / "runs")
    account = "acct-" + case["id"][:30]
    landing = tmp_path / "landing" / "corpus"
    (landing / "incoming").mkdir(parents=True)
    src_file = _input(case, tmp_path)
    dest = landing / "incoming" / (Path(src_file).name if "file" in case else f"{case['id']}.dat")
    shutil.copyfile(src_file, dest)
    source = _source(case).with_overrides(id=case["id"], account_id=account, landing=str(landing))
    with corpus_engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO accounts (id, name) VALUES (:a, :a) ON CONFLICT DO NOTHING"), {"a": account})

    res = file_import.import_file(corpus_engine, source, str(dest), run_id=f"corpus-{case['id']}", today=TODAY)

    with corpus_engine.connect() as conn:
        n_patients = conn.execute(sa.text("SELECT count(*) FROM patients WHERE account_id = :a"), {"a": account}).scalar()
    expect = case["expect"]
    if "rejected" in expect:
        assert (res.status, res.reason_code, n_patients) == ("rejected", expect["rejected"], 0)
    else:
        assert res.status in ("done", "held"), (res.status, res.reason_code)
        if res.status == "held":  # nothing merged; the rest of the file is held back, not lost
            assert res.reason_code == "reject_ratio_exceeded" and n_patients == 0
            assert res.rows_read == res.held_back + res.duplicates + res.quarantined
        else:
            assert res.rows_read == res.inserted + res.updated + res.unchanged + res.duplicates + res.quarantined
            assert n_patients == res.inserted
            assert res.reconciled is True
    want = case.get("db_expect") or {}
    assert set(want) <= DB_EXPECT_KEYS | QUERY_KEYS, case["id"]
    for key, value in want.items():
        if key in DB_EXPECT_KEYS:
            assert getattr(res, key) == value, f"{case['id']}: {key}"
    if res.status in ("rejected", "held"):
        _check_reason_message(corpus_engine, res, landing, dest.name, want.get("reason_message_contains"))
    with corpus_engine.connect() as conn:
        if "patients" in want:
            rows = conn.execute(sa.text(
                f"SELECT {PATIENT_COLUMNS} FROM patients WHERE account_id = :a ORDER BY external_id NULLS LAST, "
                "first_name"), {"a": account}).mappings().all()
            assert len(rows) == len(want["patients"]), case["id"]
            for row, expected in zip(rows, want["patients"], strict=True):
                got = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items() if k in expected}
                assert got == expected, case["id"]
        if "review" in want:
            items = conn.execute(sa.text(
                "SELECT kind, detail FROM patient_pipeline.import_review WHERE file_id = :f ORDER BY kind, detail"),
                {"f": res.file_id}).all()
            assert [list(i) for i in items] == want["review"], case["id"]
        if "change_reasons" in want:
            reasons = dict(conn.execute(sa.text(
                "SELECT reason, count(*) FROM patient_pipeline.import_changes WHERE file_id = :f AND reason IS NOT NULL "
                "GROUP BY reason"), {"f": res.file_id}).all())
            assert reasons == want["change_reasons"], case["id"]


def _check_reason_message(engine: sa.Engine, res: report_models.FileResult, landing: Path, name: str,
                          contains: str | None) -> None:
    """A rejected or held file says why: the same PHI-free message in the result, the ledger and the sidecar."""
    assert res.reason_message, res.reason_code
    if contains is not None:
        assert contains in res.reason_message
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT reason_message FROM patient_pipeline.import_file WHERE file_id = :f"),
                              {"f": res.file_id}).scalar_one()
    assert stored == res.reason_message
    (sidecar,) = (landing / "rejected").glob("*.reason.json")
    data = json.loads(sidecar.read_text())
    assert (data["reason_code"], data["reason_message"]) == (res.reason_code, res.reason_message)
    report = Path(res.report_path).with_suffix(".md").read_text()
    assert res.reason_message in report
