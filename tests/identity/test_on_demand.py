"""The matcher on demand: the CLI (`identity match`, `identity report`) and the stewardship action
`identity_match` queue the same pair and print / record ids and counts only (both servers)."""

from __future__ import annotations

import sqlalchemy as sa

from include import cli
from include.stewardship.actions import Context
from include.stewardship.dispatch import execute
from include.stewardship.request import Request
from tests.identity.conftest import ACCOUNT, add_patients, queue
from tests.identity.test_matcher_db import PEOPLE, PHI


def test_cli_match_and_report_print_counts_only(identity_db, app_env, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("GENASCOPE_MATCH_WORK_DIR", str(tmp_path / "work"))
    add_patients(identity_db, PEOPLE)
    assert cli.main(["identity", "match", "--account", ACCOUNT]) == 0
    assert cli.main(["identity", "report", "--account", ACCOUNT]) == 0
    out = capsys.readouterr().out
    assert "1 queued" in out and '"probable_duplicate"' in out
    assert not any(v.lower() in out.lower() for v in PHI)
    assert len(queue(identity_db)) == 1


def test_stewardship_action_identity_match_is_recorded(identity_db, monkeypatch, tmp_path):
    monkeypatch.setenv("GENASCOPE_MATCH_WORK_DIR", str(tmp_path / "work"))
    add_patients(identity_db, PEOPLE)
    (res,) = execute(identity_db, Request(action="identity_match", account_id=ACCOUNT, match_mode="full"),
                     Context(actor="steward-test", origin="test", dry_run=True), "run-1")
    assert res.status == "applied" and res.counts == {"accounts": 1, "queued": 1, "failed_accounts": 0}
    with identity_db.connect() as conn:
        assert conn.execute(sa.text("SELECT action FROM patient_pipeline.steward_action")).scalar() == "identity_match"
    assert len(queue(identity_db)) == 1
