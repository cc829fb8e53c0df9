"""Stewardship and imports never write at the same time (the pipeline lease), and the CLI: dry run by
default, confirmation for destructive actions, the OS user as the actor, lists with ids and counts only."""

from __future__ import annotations

import getpass
import threading
import time

import pytest
import sqlalchemy as sa

from include import cli
from include.core import lease
from include.core.locks import PipelineBusy
from include.stewardship import dispatch
from tests.stewardship.conftest import ACCOUNT, checksums, rows
from tests.stewardship.conftest import execute as sql


@pytest.fixture
def two_patients(steward_db: sa.Engine, app_env: str) -> sa.Engine:
    sql(steward_db, "INSERT INTO patients (id, account_id, external_id, email, first_name, last_name, status) VALUES "
                    f"('p-s', '{ACCOUNT}', 'MRN-1', NULL, 'Ivy', 'Lane', 'pending'), "
                    f"('p-m', '{ACCOUNT}', NULL, 'ivy.lane@example.com', 'Ivy', 'Lane', 'pending')")
    return steward_db


def test_a_stewardship_command_waits_for_the_lease_an_import_holds(two_patients, capsys):
    lease.acquire_on(two_patients, "clinic_patient_import", "night-1", wait_s=0)
    before = checksums(two_patients)
    code = cli.main(["steward", "merge", "--survivor", "p-s", "--merged", "p-m", "--apply", "--confirm", "MERGE"])
    assert code == 3 and "clinic_patient_import run night-1" in capsys.readouterr().err
    assert checksums(two_patients) == before
    assert rows(two_patients, "SELECT count(*) FROM patient_pipeline.steward_action") == [(0,)]
    lease.release_on(two_patients, "night-1")
    assert cli.main(["steward", "merge", "--survivor", "p-s", "--merged", "p-m", "--apply", "--confirm", "MERGE"]) == 0
    assert rows(two_patients, "SELECT status FROM patients WHERE id = 'p-m'") == [("archived",)]


def test_an_import_waits_while_a_stewardship_run_holds_the_lease(two_patients):
    with pytest.raises(PipelineBusy, match="cli:steward"), dispatch.cli_lease(two_patients, "cli-1"):
        lease.acquire_on(two_patients, "clinic_patient_import", "night-1", wait_s=0)
    # serialized, not refused: an import that waits gets the lease as soon as stewardship releases it
    events: list[tuple[str, float]] = []
    holding = threading.Event()

    def steward() -> None:
        with dispatch.cli_lease(two_patients, "cli-2"):
            holding.set()
            time.sleep(1.5)
            events.append(("steward_released", time.monotonic()))

    t = threading.Thread(target=steward)
    t.start()
    holding.wait(10)
    with two_patients.connect() as conn:
        lease.acquire(conn, "clinic_patient_import", "night-2", wait_s=30, poll_s=0.1)
    events.append(("import_acquired", time.monotonic()))
    t.join()
    assert [e[0] for e in sorted(events, key=lambda e: e[1])] == ["steward_released", "import_acquired"]
    lease.release_on(two_patients, "night-2")


def test_cli_is_a_dry_run_by_default_and_records_the_os_user(two_patients, capsys):
    before = checksums(two_patients)
    assert cli.main(["steward", "merge", "--survivor", "p-s", "--merged", "p-m"]) == 0
    out = capsys.readouterr().out
    assert "merge: dry_run" in out and "--confirm MERGE" in out
    assert checksums(two_patients) == before
    assert rows(two_patients, "SELECT action, status, actor, origin FROM patient_pipeline.steward_action") == [
        ("merge", "dry_run", getpass.getuser(), "cli")]
    # --apply without the word is refused before the database is touched
    assert cli.main(["steward", "merge", "--survivor", "p-s", "--merged", "p-m", "--apply"]) == 2
    assert "confirm to MERGE" in capsys.readouterr().err
    assert checksums(two_patients) == before


def test_cli_lists_print_ids_and_counts_only(two_patients, capsys):
    sql(two_patients,
        "INSERT INTO patient_pipeline.import_file (source_id, account_id, file_name, location, sha256, size_bytes, "
        f"status) VALUES ('clinic-north-csv', '{ACCOUNT}', 'f.csv', '/x', repeat('b', 64), 1, 'done')",
        "INSERT INTO patient_pipeline.import_review (file_id, record_no, kind, patient_id, candidate_patient_id) "
        "SELECT max(file_id), 2, 'name_dob_match', 'p-m', 'p-s' FROM patient_pipeline.import_file",
        "INSERT INTO patient_pipeline.import_quarantine (file_id, record_no, reason_code, field, raw_values, "
        "decided_by) SELECT max(file_id), 3, 'missing_first_name', 'first_name', "
        "'{\"email\": \"ivy.lane@example.com\", \"last_name\": \"Lane\"}', 'normalizer' FROM patient_pipeline.import_file")
    assert cli.main(["steward", "list", "review"]) == 0
    assert cli.main(["steward", "list", "quarantine"]) == 0
    assert cli.main(["steward", "list", "actions"]) == 0
    out = capsys.readouterr().out
    assert "open review items: 1" in out and "import:1  name_dob_match  file=1  patients=p-m p-s" in out
    assert "open quarantine rows: 1" in out and "missing_first_name: 1" in out
    assert "ivy" not in out.lower() and "Lane" not in out
