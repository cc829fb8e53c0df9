"""The "Patient pipeline" page on a real app database: revision, lease holder, ledger, review and
quarantine counts by reason; never a quarantined value."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from include.core import alembic_driver, lease, pipeline_schema, settings
from tests.ui.reports_data import QUARANTINED_EMAIL, QUARANTINED_NAME

pytestmark = pytest.mark.airflow


def seed_pipeline_state(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_BASELINE)
        pipeline_schema.ensure(conn)
        lease.acquire(conn, "clinic_patient_import", "scheduled__2026-12-01T02:00:00+00:00")
        file_id = conn.execute(sa.text(
            "INSERT INTO patient_pipeline.import_file (source_id, account_id, file_name, location, sha256, "
            "size_bytes, status, dag_run_id, rows_read, inserted, updated, quarantined, review_items) VALUES "
            "('clinic-north-csv', 'acct-1', 'north.csv', 'landing/north/incoming/north.csv', repeat('a', 64), 10, "
            "'done', 'scheduled__2026-12-01T02:00:00+00:00', 10, 6, 2, 2, 1) RETURNING file_id")).scalar_one()
        conn.execute(sa.text(
            "INSERT INTO patient_pipeline.import_quarantine (file_id, record_no, reason_code, field, raw_values, "
            "decided_by) VALUES (:f, 4, 'invalid_email', 'email', CAST(:raw AS jsonb), 'reader'), "
            "(:f, 5, 'invalid_email', 'email', CAST(:raw AS jsonb), 'reader'), "
            "(:f, 6, 'missing_dob', 'dob', CAST(:raw AS jsonb), 'reader')"),
            {"f": file_id, "raw": f'{{"name": "{QUARANTINED_NAME}", "email": "{QUARANTINED_EMAIL}"}}'})
        conn.execute(sa.text(
            "INSERT INTO patient_pipeline.import_review (file_id, record_no, kind, patient_id, candidate_patient_id) "
            "VALUES (:f, 7, 'name_dob_lookalike', 'pat-1', 'pat-2')"), {"f": file_id})
        conn.commit()


def test_pipeline_page_shows_revision_lease_ledger_and_counts_by_reason_without_phi(api, tokens, app_env, engine,
                                                                                    runs_root):
    from tests.ui.test_report_routes import get

    seed_pipeline_state(engine)
    response = get(api, "/genascope/pipeline", "viewer", tokens)
    assert response.status_code == 200, response.text
    page = response.text
    assert f'data-testid="revision"><code>{settings.REV_BASELINE}</code>' in page
    assert "held by <code>clinic_patient_import</code>" in page
    assert "scheduled__2026-12-01T02:00:00+00:00" in page
    assert "<code>clinic-north-csv</code>" in page
    assert '<td><code>invalid_email</code></td><td class="n">2</td>' in page
    assert '<td><code>missing_dob</code></td><td class="n">1</td>' in page
    assert '<td><code>name_dob_lookalike</code></td><td class="n">1</td>' in page
    assert "<h3><code>patient_first_migration</code>" in page  # "(paused)" follows while it is paused
    assert QUARANTINED_NAME not in page and QUARANTINED_EMAIL not in page
    assert get(api, "/genascope/pipeline", "outsider", tokens).status_code == 403


def test_ledger_entries_of_the_intake_api_are_labelled_not_linked_and_review_items_link_to_the_review_page(
        api, tokens, app_env, engine, runs_root):
    from include.ui.app import review_url
    from tests.ui.test_report_routes import get

    seed_pipeline_state(engine)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO patient_pipeline.import_file (source_id, account_id, file_name, location, sha256, "
            "size_bytes, status, dag_run_id, rows_read) VALUES ('clinic-north-csv', 'acct-1', 'upload.csv', "
            "'landing/north/incoming/upload.csv', repeat('b', 64), 10, 'done', 'api:7f3a', 3)"))
        review_id = conn.execute(sa.text("SELECT review_id FROM patient_pipeline.import_review")).scalar_one()
    page = get(api, "/genascope/pipeline", "viewer", tokens).text
    assert "api:7f3a</a>" not in page and ">intake API</span>" in page  # no link to a run that does not exist
    item = f"import:{review_id}"
    assert review_url(item) == f"/genascope/review/items/import%3A{review_id}"
    assert f'<a href="{review_url(item)}">{item}</a>' in page
    assert f'href="{review_url()}" data-testid="review-link"' in page
