"""Take one import file back (``undo_import``): a clinic file that passed the gates but was wrong.

- Every field the file changed goes back to its previous value (``import_change_log.previous_values``,
  written by ``include/sql/imports/merge_update.sql``), when nothing changed the patient since;
  a patient changed since (a later file, the application, a merge) is listed and left alone.
- The patients the file created are removed when nothing links to them yet (invite, user, chat session,
  a later file's change or review item, a merge) and nothing changed them; the others are listed and kept.
- The ledger row becomes ``undone`` (with the action id), so the same bytes can be imported again; the
  file's open review items and quarantine rows are resolved as ``file_undone``.

One transaction (``include/sql/stewardship/undo_*.sql``, set-based); a dry run rolls it back. Every
patient's row before the undo stays in ``steward_undo_patient`` (pipeline schema; PHI never leaves the
database). Output: ids and counts.
"""

from __future__ import annotations

import sqlalchemy as sa

from include.core import sql_files
from include.stewardship import actions
from include.stewardship.actions import ActionResult, Context
from include.stewardship.errors import ActionRefused

#: How many patient ids of each kept disposition the result lists (the counts are always complete).
LIST_LIMIT = 1000


def check_undoable(conn: sa.Connection, file_id: int) -> dict[str, object]:
    row = conn.execute(sa.text(
        "SELECT file_id, source_id, status, "
        "(SELECT count(*) FROM patient_pipeline.import_change_log c WHERE c.file_id = f.file_id "
        " AND c.change_kind = 'update' AND c.previous_values IS NULL) AS without_previous "
        "FROM patient_pipeline.import_file f WHERE file_id = :f FOR UPDATE"), {"f": file_id}).mappings().first()
    if row is None:
        raise ActionRefused("unknown_file", f"no import ledger row {file_id}")
    if row["status"] == "undone":
        raise ActionRefused("already_undone", f"file {file_id} was already undone")
    if row["status"] != "done":
        raise ActionRefused("not_done", f"file {file_id} is in status {row['status']}; only a finished ('done') "
                            "import can be undone")
    if row["without_previous"]:
        raise ActionRefused("no_previous_values",
                            f"file {file_id} was imported before previous values were kept "
                            f"({row['without_previous']} updates without them); it cannot be undone exactly")
    return dict(row)


def undo_import(conn: sa.Connection, ctx: Context, file_id: int, *, undoes: int | None = None) -> ActionResult:
    """Undo one import file (inside the caller's transaction; see the module docstring)."""
    file_id = int(file_id)
    ledger = check_undoable(conn, file_id)
    params = {"file_id": file_id, "source_id": ledger["source_id"]}
    action_id = actions.record(conn, ctx, "undo_import", "dry_run" if ctx.dry_run else "applied", params,
                               undoes=undoes)
    planned = [r.disposition for r in sql_files.run(conn, "stewardship", "undo_01_plan", action_id=action_id, file_id=file_id)]
    restored = sql_files.run(conn, "stewardship", "undo_02_restore", action_id=action_id).rowcount
    removed = sql_files.run(conn, "stewardship", "undo_03_remove", action_id=action_id).rowcount
    closed = sql_files.run(conn, "stewardship", "undo_04_close", action_id=action_id, file_id=file_id).one()
    kept = {d: [r[0] for r in conn.execute(sa.text(
        "SELECT patient_id FROM patient_pipeline.steward_undo_patient WHERE action_id = :a AND disposition = :d "
        "ORDER BY patient_id LIMIT :n"), {"a": action_id, "d": d, "n": LIST_LIMIT})]
        for d in ("kept_linked", "kept_changed")}
    counts = {"restored": int(restored), "removed": int(removed),
              "kept_linked": planned.count("kept_linked"), "kept_changed": planned.count("kept_changed"),
              "review_rows_closed": int(closed.review_rows), "quarantine_rows_closed": int(closed.quarantine_rows)}
    if counts["restored"] != planned.count("restored") or counts["removed"] != planned.count("removed"):
        raise ActionRefused("undo_inconsistent", f"file {file_id}: planned {planned.count('restored')} restores / "
                            f"{planned.count('removed')} removals, did {restored} / {removed}; nothing was changed")
    actions.set_counts(conn, action_id, counts)
    return ActionResult("undo_import", "dry_run" if ctx.dry_run else "applied", action_id, params=params,
                        counts=counts, ids=kept)
