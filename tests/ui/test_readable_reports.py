"""Every Report tab reads as a report (issue 28): the stewardship run's own report instead of raw JSON, why
a run failed or was refused, markdown files as pages, no Python repr, labels in the right number."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from include.ui.templating import _num, plural
from tests.ui.reports_data import (
    IMPORT_RUN,
    REFUSED_ROLLBACK_RUN,
    STEWARDSHIP_RUN,
    write_import_night,
    write_refused_rollback_report,
    write_stewardship_report,
)
from tests.ui.test_report_routes import get

pytestmark = pytest.mark.airflow

RAW = re.compile(r"""\{\s*['"]|\[\s*['"]|\bNone\b|\bTrue\b|\bFalse\b|0o[0-7]{3}""")


def visible_text(html: str) -> str:
    body = html.split("<body>", 1)[-1].split("<script>", 1)[0]
    return re.sub(r"<[^>]+>", " ", body)


def test_the_stewardship_report_tab_shows_the_report_not_raw_json(api, runs_root, tokens):
    write_stewardship_report()
    page = get(api, f"/genascope/runs/patient_stewardship/{quote(STEWARDSHIP_RUN, safe='')}/report", "viewer", tokens)
    assert page.status_code == 200, page.text
    assert 'data-testid="report-status">dry run<' in page.text
    assert 'data-testid="headline">1<' in page.text and "import:12" in page.text
    assert '"detail"' not in page.text and not RAW.findall(visible_text(page.text))


def test_a_refused_run_says_why_on_its_report_tab(api, runs_root, tokens):
    write_refused_rollback_report()
    page = get(api, f"/genascope/runs/patient_first_rollback/{quote(REFUSED_ROLLBACK_RUN, safe='')}/report",
               "viewer", tokens)
    assert page.status_code == 200, page.text
    assert 'data-testid="report-status">failed: confirmation_missing in preflight.validate_confirm<' in page.text
    assert 'data-testid="failure-reasons"' in page.text and "confirm = ROLLBACK" in page.text
    assert not RAW.findall(visible_text(page.text))


def test_markdown_reports_open_as_pages_and_raw_on_request(api, runs_root, tokens):
    write_import_night()
    base = f"/genascope/runs/clinic_patient_import/{quote(IMPORT_RUN, safe='')}/files/imports/file_7.md"
    page = get(api, base, "viewer", tokens)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<table>" in page.text and "| rows read |" not in page.text
    raw = get(api, f"{base}?raw=1", "viewer", tokens)
    assert raw.headers["content-type"].startswith("text/markdown") and "| rows read |" in raw.text


def test_values_are_shown_as_words_never_as_python():
    assert _num({"catch_up_rows": {"invites": 3}, "applied": True}) == "catch up rows: invites: 3; applied: yes"
    assert _num(["a", 2000]) == "a, 2,000" and _num([]) == "—" and _num(None) == "—"
    assert plural("file", 1) == "file" and plural("file", 0) == "files" and plural("quarantined invite", 2) == \
        "quarantined invites" and plural("pass", 2) == "passes"


def test_while_the_plan_approval_waits_the_report_tab_shows_the_plan_and_the_restore(api, runs_root, tokens):
    from include.migration_run import report as migration_report

    run_id = "manual__2026-12-02T08:00:00+00:00"
    plan = {"patients_to_create": 44_333, "invites_to_link": 50_000, "users_to_link": 19_677,
            "quarantined_invite_ids": [], "review_queue_invite_ids": []}
    migration_report.write_waiting_report(run_id, {"dry_run": False, "require_approval": True},
                                         "waiting for approval: approval.approve_plan", plan, {"would_restore": 2_349})
    page = get(api, f"/genascope/runs/patient_first_migration/{quote(run_id, safe='')}/report", "viewer", tokens)
    assert page.status_code == 200, page.text
    assert 'data-testid="report-status">waiting for approval: approval.approve_plan<' in page.text
    assert "patients to create" in page.text and 'data-testid="patient-count">44,333<' in page.text
    assert 'data-testid="restored-count">2,349<' in page.text and "Would restore 2,349 archived patients" in page.text
    assert 'data-testid="approval-approve_plan">waiting for an answer<' in page.text
    assert not RAW.findall(visible_text(page.text))
