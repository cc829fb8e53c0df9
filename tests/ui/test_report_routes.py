"""The Report tab's routes: who may see what (401/403), what the page shows, and no path escapes the run."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.airflow_api import token
from tests.ui.reports_data import (
    IMPORT_RUN,
    MIGRATION_RUN,
    QUARANTINED_EMAIL,
    QUARANTINED_NAME,
    write_import_night,
    write_migration_report,
)

pytestmark = pytest.mark.airflow

MIG = f"/genascope/runs/patient_first_migration/{quote(MIGRATION_RUN, safe='')}"
IMP = f"/genascope/runs/clinic_patient_import/{quote(IMPORT_RUN, safe='')}"


def get(api, url, who=None, tokens=None, cookie=False):
    api.cookies.clear()
    if who is None:
        return api.get(url)
    if cookie:  # the UI's way: the _token cookie the login sets
        api.cookies.set("_token", tokens[who])
        return api.get(url)
    return api.get(url, headers={"Authorization": f"Bearer {tokens[who]}"})


@pytest.fixture
def runs(runs_root):
    write_migration_report()
    write_import_night()
    return runs_root


@pytest.mark.parametrize("path", [f"{MIG}/report", f"{MIG}/files/report.json", f"{IMP}/quarantine/7.csv",
                                  "/genascope/pipeline"])
def test_anonymous_requests_get_401_on_every_route(api, runs, path):
    response = api.get(path)
    assert response.status_code == 401
    assert api.get(path, headers={"Authorization": "Bearer not-a-jwt"}).status_code == 401


def test_an_expired_token_is_refused_with_401(api, runs):
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    expired = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"),
                                              expiration_time_in_seconds=-60)
    assert api.get(f"{MIG}/report", headers={"Authorization": f"Bearer {expired}"}).status_code == 401


@pytest.mark.parametrize("path", [f"{MIG}/report", f"{MIG}/files/report.json", f"{IMP}/report", "/genascope/pipeline"])
def test_a_user_without_read_access_on_the_dag_gets_403(api, runs, tokens, path):
    assert get(api, path, "outsider", tokens).status_code == 403


def test_viewer_reads_the_migration_report_with_counts_gates_approvals_and_chart(api, runs, tokens):
    for cookie in (False, True):
        response = get(api, f"{MIG}/report", "viewer", tokens, cookie=cookie)
        assert response.status_code == 200, response.text
    page = response.text
    assert 'data-testid="patient-count">1,234<' in page
    assert 'data-testid="review-queue">1<' in page
    assert "patient_names_present" in page and "FAILED" in page and "pat-9" in page
    assert 'data-testid="approval-approve_plan">approved<' in page
    assert "<svg" in page and "rows/s" in page and "create_patients" in page
    assert f'href="{MIG}/files/gx/data_docs/index.html">Great Expectations Data Docs<' in page
    docs = get(api, f"{MIG}/files/gx/data_docs/index.html", "viewer", tokens)
    assert docs.text == "<html><body>GX Data Docs of the run</body></html>"
    assert docs.headers["content-security-policy"].startswith("sandbox")  # no access to Airflow's session
    report_json = get(api, f"{MIG}/files/report.json", "viewer", tokens)
    assert report_json.status_code == 200 and report_json.json()["summary"]["patients_created"] == 1234


def test_import_report_shows_sources_quarantine_and_field_issues_but_never_the_quarantined_values(
        api, runs, tokens):
    viewer = get(api, f"{IMP}/report", "viewer", tokens)
    assert viewer.status_code == 200
    page = viewer.text
    assert 'data-testid="patient-count">6<' in page
    assert "invalid_email" in page and "phone_unparseable" in page and "clinic-north-csv" in page
    assert "needs edit access" in page and "/quarantine/7.csv" not in page
    assert "night_summary.md" in page and "imports/file_7.md" in page
    admin = get(api, f"{IMP}/report", "admin", tokens).text
    assert "/quarantine/7.csv" in admin
    for text in (page, admin):
        assert QUARANTINED_NAME not in text and QUARANTINED_EMAIL not in text


def test_quarantine_exports_hold_phi_so_they_need_edit_access_on_the_dag(api, runs, tokens):
    assert get(api, f"{IMP}/quarantine/7.csv", "viewer", tokens).status_code == 403
    # ... and the generic files route never serves them, whoever asks
    for who in ("viewer", "admin"):
        assert get(api, f"{IMP}/files/imports/file_7_quarantine.csv", who, tokens).status_code == 403
    user = {"Authorization": f"Bearer {token('user', 'dag-editor')}"}  # role "user": edits DAGs, not admin
    api.cookies.clear()
    export = api.get(f"{IMP}/quarantine/7.csv", headers=user)
    assert export.status_code == 200
    assert QUARANTINED_EMAIL in export.text and export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    assert get(api, f"{IMP}/quarantine/8.csv", "admin", tokens).status_code == 404


@pytest.mark.parametrize("path", [
    "/genascope/runs/patient_first_migration/..%2F..%2Fetc/report",
    "/genascope/runs/patient_first_migration/../report",
    f"{MIG}/files/..%2F..%2F..%2Fetc%2Fpasswd",
    f"{MIG}/files/gx/../../report.json",
    f"{MIG}/files/.hidden",
    "/genascope/runs/some_other_dag/x/report",
])
def test_no_url_reaches_outside_the_run_folder(api, runs, tokens, path):
    response = get(api, path, "admin", tokens)
    assert response.status_code == 404, (path, response.status_code)


def test_a_run_without_a_report_yet_says_so(api, runs, tokens):
    response = get(api, "/genascope/runs/patient_first_migration/manual__not_finished/report", "viewer", tokens)
    assert response.status_code == 404 and "No report yet" in response.text


def test_the_plugin_registers_the_report_tab_and_the_pipeline_page(api, tokens):
    plugins = get(api, "/api/v2/plugins", "admin", tokens).json()["plugins"]
    ours = next(p for p in plugins if p["name"] == "genascope_pipeline")
    views = {v["name"]: v for v in ours["external_views"]}
    assert views["Report"]["destination"] == "dag_run"
    assert views["Report"]["href"] == "/genascope/runs/{DAG_ID}/{RUN_ID}/report"
    assert views["Patient pipeline"]["destination"] == "nav"
    assert [a["url_prefix"] for a in ours["fastapi_apps"]] == ["/genascope"]


def test_a_rejected_rollback_report_says_who_rejected_and_what_would_have_been_dropped(api, runs_root, tokens):
    from tests.ui.reports_data import ROLLBACK_RUN, write_rollback_report

    write_rollback_report()
    page = get(api, f"/genascope/runs/patient_first_rollback/{quote(ROLLBACK_RUN, safe='')}/report", "viewer",
               tokens)
    assert page.status_code == 200, page.text
    assert 'data-testid="report-status">rejected: nothing applied<' in page.text
    assert 'data-testid="approval-approve_rollback">rejected<' in page.text and ">ops<" in page.text
    assert "patients rows" in page.text and "20250527_create_patients" in page.text


def test_import_report_shows_the_matchers_pass_counts_threshold_model_and_queue_by_kind(api, runs, tokens):
    import json

    from include.identity import steps
    from include.imports import file_report

    data = {"trigger": "night", "accounts": 1, "queued": 2, "failed_accounts": {},
            "queue_by_kind": {"probable_duplicate": {"open": 2, "merged": 1}, "name_dob_match": {"open": 1}},
            "runs": [{"match_run_id": 9, "account_id": "acct-1", "mode": "incremental", "trigger": "night",
                      "model_name": "genascope-default-v1", "trained": False, "threshold": 0.9, "patients": 40,
                      "new_patients": 6, "pairs_by_rule": {"first_and_last_name": 5, "email": 1},
                      "pairs_scored": 6, "above_threshold": 3, "queued": 2, "already_open": 1,
                      "suppressed_decided": 0, "seconds": 1.2, "status": "done",
                      "decisions": {"precision": 1.0, "recall": 0.5, "decided_pairs": 3}}]}
    steps._write("clinic_patient_import", IMPORT_RUN, data)
    assert json.loads((file_report.run_dir(IMPORT_RUN) / "identity.json").read_text())["queued"] == 2
    page = get(api, f"{IMP}/report", "viewer", tokens).text
    assert "Identity matcher" in page and 'data-testid="identity-runs"' in page
    assert "genascope-default-v1" in page and "threshold 0.9" in page
    assert "first_and_last_name" in page and "probable_duplicate" in page and "/genascope/review" in page
    assert "1.0 / 0.5 (3 decided)" in page
