"""A running backfill phase reports its progress in the task log: rows walked of the planned rows,
written, batches, rate and time left; counts only (never a name or an e-mail)."""

from __future__ import annotations

import logging
import re

from include.backfill import phases
from tests.backfill.legacy_rows import Legacy, at, backfill

PROGRESS = re.compile(r"^(\w+): ([\d,]+) rows walked( of ([\d,]+) planned \((\d+)%\)| since the resume)?, "
                      r"([\d,]+) written, (\d+) batches, \d+ rows/s")


def progress_lines(caplog) -> list[tuple[str, int, str | None, int]]:
    """(phase, rows walked, planned or 'resume', batches) of every progress line logged."""
    out = []
    for record in caplog.records:
        m = PROGRESS.match(record.getMessage())
        if m:
            planned = "resume" if m.group(3) == " since the resume" else m.group(4)
            out.append((m.group(1), int(m.group(2).replace(",", "")), planned, int(m.group(7))))
    return out


def test_each_phase_reports_rows_walked_of_the_planned_rows(conn, legacy: Legacy, caplog, monkeypatch):
    monkeypatch.setattr(phases, "PROGRESS_EVERY_S", 0.0)  # a line per batch
    for n in range(25):
        legacy.invite(f"i{n:02d}", f"walker{n}@x.test", f"Walker{n}", "Progress", created_at=at(n))
    caplog.set_level(logging.INFO, logger="include.backfill.phases")

    backfill(conn, batch_size=7)

    lines = [line for line in progress_lines(caplog) if line[0] == "link_invites"]
    assert lines == [("link_invites", 7, "25", 1), ("link_invites", 14, "25", 2), ("link_invites", 21, "25", 3),
                     ("link_invites", 25, "25", 4)]
    assert [line[1] for line in progress_lines(caplog) if line[0] == "create_patients"] == [7, 14, 21, 25]
    text = caplog.text
    assert "walker" not in text.lower() and "x.test" not in text


def test_a_resumed_phase_counts_from_the_resume(conn, legacy: Legacy, caplog, monkeypatch):
    monkeypatch.setattr(phases, "PROGRESS_EVERY_S", 0.0)
    for n in range(20):
        legacy.invite(f"i{n:02d}", f"p{n}@x.test", f"P{n}", "Smith", created_at=at(n))
    caplog.set_level(logging.INFO, logger="include.backfill.phases")
    backfill(conn, batch_size=5, max_batches=1)  # each phase pauses after one batch
    caplog.clear()

    backfill(conn, batch_size=5)

    resumed = [line for line in progress_lines(caplog) if line[0] == "create_patients"]
    assert resumed == [("create_patients", 5, "resume", 1), ("create_patients", 10, "resume", 2),
                       ("create_patients", 15, "resume", 3)]


def test_no_progress_line_before_the_interval(conn, legacy: Legacy, caplog):
    for n in range(10):
        legacy.invite(f"i{n:02d}", f"p{n}@x.test", f"P{n}", "Smith", created_at=at(n))
    caplog.set_level(logging.INFO, logger="include.backfill.phases")
    backfill(conn, batch_size=2)
    assert phases.PROGRESS_EVERY_S >= 5 and progress_lines(caplog) == []
