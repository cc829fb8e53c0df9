"""An import night followed by the matcher (as the DAG's match_identities task runs it): the night's new
patients are scored against their account; a typo'd copy from a later night is queued, a twin is not; the
same night matched again queues nothing twice (both servers)."""

from __future__ import annotations

import sqlalchemy as sa

from include.identity import matcher
from include.imports import file_import
from tests.identity.conftest import queue
from tests.stewardship.conftest import (  # noqa: F401 - fixtures
    csv_source,
    drop_csv,
    sources_file,
    steward_db,
)

SOURCE = "clinic-north-csv"


def _patient_id(engine: sa.Engine, external_id: str) -> str:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT id FROM patients WHERE external_id = :e"), {"e": external_id}).scalar_one()


def test_an_import_night_queues_a_typo_copy_and_not_a_twin(steward_db, drop_csv, sources_file, cfg):  # noqa: F811
    first = drop_csv("night1.csv", [
        "jon.whitfield@mail.example,Jonathan,Whitfield,+16175550143,MRN-1,1972-03-08",
        "jon.whitfield@mail.example,Marcus,Whitfield,+16175550143,MRN-2,1972-03-08",  # the twin
        "amelia@web.example,Amelia,Stone,,MRN-3,1990-11-02",
    ])
    file_import.import_file_task(steward_db, SOURCE, first, run_id="night-1")
    night1 = matcher.run_night(steward_db, "night-1", cfg)
    assert [r.new_patients for r in night1.runs] == [3]
    assert queue(steward_db) == []  # the twin is not a probable duplicate

    second = drop_csv("night2.csv", [  # the same person from the other system: a typo, another e-mail and MRN
        "jw72@post.example,Jonahtan,Whitfield,+16175550143,MRN-9,1972-03-08",
    ])
    file_import.import_file_task(steward_db, SOURCE, second, run_id="night-2")
    night2 = matcher.run_night(steward_db, "night-2", cfg)
    assert [(r.new_patients, r.queued) for r in night2.runs] == [(1, 1)]
    orig, typo = _patient_id(steward_db, "MRN-1"), _patient_id(steward_db, "MRN-9")
    assert [{i["patient_id"], i["candidate_patient_id"]} for i in queue(steward_db)] == [{orig, typo}]

    again = matcher.run_night(steward_db, "night-2", cfg)
    assert [(r.queued, r.already_open) for r in again.runs] == [(0, 1)]
    assert len(queue(steward_db)) == 1
