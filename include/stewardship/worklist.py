"""Quarantine worklists and replayed corrections.

``export_worklist`` writes the open quarantine rows (and field issues, see ``field_issue_rows``) of one
file, one source or one night as an owner-only CSV (mode 0600, folder 0700): file id, record number,
kind, reason, field and the values as read, spreadsheet formulas neutralized. The file holds PHI by
nature; it is written to the run folder, never to a log.

``replay_corrections`` takes a CSV keyed by ``file_id`` + ``record_no`` with corrected columns (the
worklist itself, edited, is such a file: its extra columns are ignored and neutralized cells are read
back as typed). Per original file, the corrected records (a corrected cell replaces the value as read;
an empty cell keeps it) are written as one CSV with the platform header and imported through the normal
path (``include.imports.file_import.import_file``: ledger, staging, decisions, gate, merge, reconciliation)
as a new ledger entry whose ``replay_of`` is the original file. The original quarantine rows are then
resolved (``replayed``) with a pointer to the new file and record (``resolved_file_id``,
``resolved_record_no``; and ``steward_replay_record``).
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from include.core import pipeline_dags, private_files, run_report, sql_files
from include.imports.quarantine import neutralize
from include.imports.sources import DEFAULT_FORMULA_PREFIXES, SourceConfig, load_sources
from include.stewardship import actions
from include.stewardship.actions import ActionResult, Context
from include.stewardship.errors import ActionRefused, BadRequest

log = logging.getLogger(__name__)

DAG_ID = pipeline_dags.STEWARDSHIP.dag_id
#: The values a worklist shows and a correction may change (the platform header's columns).
VALUE_FIELDS = ("external_id", "first_name", "last_name", "email", "phone", "date_of_birth")
WORKLIST_COLUMNS = ("file_id", "record_no", "kind", "reason_code", "field", *VALUE_FIELDS, "other_values")
#: Worklist columns a corrections file may carry besides the keys and the values (ignored on replay).
IGNORED_COLUMNS = ("kind", "reason_code", "field", "other_values")
#: The CSV header of a replay file: the platform's documented header (default column mapping).
REPLAY_HEADER = ("email", "first_name", "last_name", "phone", "external_id", "date_of_birth")


@dataclass(frozen=True)
class Scope:
    """Which rows a worklist covers: one file, one source, one night (UTC registration date), or a mix."""

    file_id: int | None = None
    source_id: str | None = None
    night: date | None = None

    def __post_init__(self) -> None:
        if self.file_id is None and not self.source_id and self.night is None:
            raise BadRequest("a worklist needs a file id, a source id or a night (YYYY-MM-DD)")

    def label(self) -> str:
        parts = [f"file_{self.file_id}" if self.file_id is not None else "",
                 f"source_{self.source_id}" if self.source_id else "",
                 f"night_{self.night.isoformat()}" if self.night else ""]
        return "_".join(p for p in parts if p)

    def params(self) -> dict[str, Any]:
        return {"file_id": self.file_id, "source_id": self.source_id or None, "night": self.night}


# --------------------------------------------------------------------------------------------- files


def open_owner_only(path: Any) -> IO[str]:
    """A new file for writing, mode 0600 from its creation (its folder 0700); never follows a symlink, never
    overwrites (include/core/private_files.py)."""
    private_files.ensure_dir(path.parent)
    return private_files.open_private(path, "x", newline="")


def stewardship_dir(run_id: str) -> Any:
    """This run's folder (owner-only): ``<runs root>/patient_stewardship/<run id>``."""
    return run_report.run_dir(DAG_ID, run_id)


# --------------------------------------------------------------------------------------------- worklist


def _prefixes_by_source() -> dict[str, tuple[str, ...]]:
    return {s.id: s.quarantine_formula_prefixes for s in load_sources().values()}


def quarantine_rows(conn: sa.Connection, scope: Scope) -> Iterator[sa.Row]:
    """Open quarantine rows of the scope, streamed (file id, record no, kind, reason, field, values)."""
    result = conn.execute(sql_files.statement("stewardship", "worklist_quarantine"), scope.params(),
                          execution_options={"stream_results": True, "max_row_buffer": 5000})
    yield from result


def field_issue_rows(conn: sa.Connection, scope: Scope) -> Iterator[sa.Row]:
    """Field issues of the scope, as worklist rows (same columns as ``quarantine_rows``; no values: the
    field-issue table keeps file, record number, field and reason code only).

    ``patient_pipeline.import_field_issue`` comes with the real-world feeds work (docs/contracts/imports.md "Real-world
    feeds", branch feat/feeds, built in parallel); until it exists in the database this yields nothing.
    This function is the one place that knows that table (``worklist_field_issues.sql``).
    """
    if conn.execute(sa.text("SELECT to_regclass('patient_pipeline.import_field_issue')")).scalar() is None:
        return
    yield from conn.execute(sql_files.statement("stewardship", "worklist_field_issues"), scope.params())


def export_worklist(conn: sa.Connection, ctx: Context, scope: Scope, dest: Path) -> ActionResult:
    """Write the worklist CSV of ``scope`` to ``dest`` (a new 0600 file) and record the export."""
    prefixes = _prefixes_by_source()
    counts: dict[str, int] = {"rows": 0, "quarantine": 0, "field_issue": 0}
    by_reason: dict[str, int] = {}
    files: set[int] = set()
    with open_owner_only(dest) as fh:
        out = csv.writer(fh)
        out.writerow(WORKLIST_COLUMNS)
        for rows in (quarantine_rows(conn, scope), field_issue_rows(conn, scope)):
            for r in rows:
                pre = prefixes.get(r.source_id, DEFAULT_FORMULA_PREFIXES)
                values = dict(r.raw_values or {})
                cells = [neutralize(_text(values.pop(k, None)), pre) for k in VALUE_FIELDS]
                other = neutralize(json.dumps(values, ensure_ascii=False, default=str), pre) if values else ""
                out.writerow([r.file_id, r.record_no, r.kind, r.reason_code, r.field or "", *cells, other])
                counts["rows"] += 1
                counts[r.kind] = counts.get(r.kind, 0) + 1
                by_reason[r.reason_code] = by_reason.get(r.reason_code, 0) + 1
                files.add(int(r.file_id))
    conn.rollback()  # the streaming read's transaction; the record below is its own
    params = {**scope.params(), "night": scope.night.isoformat() if scope.night else None, "path": str(dest)}
    with conn.begin():
        action_id = actions.record(conn, ctx, "export_worklist", "applied", params, counts)
    return ActionResult("export_worklist", "applied", action_id, params=params, counts={**counts, **{
        f"reason:{k}": v for k, v in sorted(by_reason.items())}}, ids={"file_ids": sorted(files)})


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def quarantine_summary(conn: sa.Connection, scope: Scope | None = None) -> dict[str, Any]:
    """Open quarantine rows by file and reason (counts and ids only): what the CLI prints."""
    params = scope.params() if scope else {"file_id": None, "source_id": None, "night": None}
    rows = conn.execute(sql_files.statement("stewardship", "quarantine_summary"), params).mappings().all()
    return {"open_rows": sum(int(r["n"]) for r in rows),
            "by_file_and_reason": [{"file_id": r["file_id"], "source_id": r["source_id"],
                                    "reason_code": r["reason_code"], "rows": int(r["n"])} for r in rows]}


# --------------------------------------------------------------------------------------------- replay


@dataclass(frozen=True)
class Correction:
    file_id: int
    record_no: int
    values: dict[str, str]  # corrected cells only (non-empty)


def _unneutralize(value: str, prefixes: tuple[str, ...]) -> str:
    """A worklist cell back as typed: the leading quote ``neutralize`` added is dropped."""
    if value.startswith("'") and value[1:].startswith(prefixes):
        return value[1:]
    return value


def read_corrections(text: str) -> list[Correction]:
    """Parse a corrections CSV (``file_id``, ``record_no`` and corrected value columns)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if "file_id" not in header or "record_no" not in header:
        raise BadRequest("a corrections CSV needs the columns file_id and record_no (and corrected value columns: "
                         f"{', '.join(VALUE_FIELDS)})")
    unknown = sorted(set(header) - {"file_id", "record_no", *VALUE_FIELDS, *IGNORED_COLUMNS})
    if unknown:
        raise BadRequest(f"unknown column(s) in the corrections CSV: {unknown}; allowed: file_id, record_no, "
                         f"{', '.join(VALUE_FIELDS)} (and the worklist's {', '.join(IGNORED_COLUMNS)})")
    out: list[Correction] = []
    seen: set[tuple[int, int]] = set()
    for line_no, row in enumerate(reader, start=2):
        row = {(k or "").strip(): v for k, v in row.items()}
        try:
            key = (int(row["file_id"]), int(row["record_no"]))
        except (TypeError, ValueError):
            raise BadRequest(f"line {line_no} of the corrections CSV: file_id and record_no must be numbers") from None
        if key in seen:
            raise BadRequest(f"line {line_no} of the corrections CSV repeats file {key[0]} record {key[1]}")
        seen.add(key)
        values = {k: _unneutralize(v.strip(), DEFAULT_FORMULA_PREFIXES) for k, v in row.items()
                  if k in VALUE_FIELDS and v is not None and v.strip()}
        out.append(Correction(key[0], key[1], values))
    if not out:
        raise BadRequest("the corrections CSV has no data rows")
    return out


def _open_quarantine(conn: sa.Connection, corrections: list[Correction]) -> dict[tuple[int, int], sa.Row]:
    rows = conn.execute(sql_files.statement("stewardship", "replay_targets"), {
        "file_ids": [c.file_id for c in corrections], "record_nos": [c.record_no for c in corrections]}).all()
    return {(int(r.file_id), int(r.record_no)): r for r in rows}


def replay_source(source: SourceConfig, landing_dir: Path) -> SourceConfig:
    """The source a replay file is imported with: the original source's account, clinician and id, read
    as a platform-header CSV; its dates in the source's formats or ISO; never held back as a whole (each
    corrected row stands alone: one that still fails is quarantined again)."""
    formats = tuple(dict.fromkeys((*source.date_formats, "%Y-%m-%d")))
    return source.with_overrides(format="csv", column_mapping=None, delimiter=",", encoding="utf-8",
                                 date_formats=formats, landing=str(landing_dir), max_reject_ratio=1.0)


def replay_corrections(engine: sa.Engine, ctx: Context, corrections_text: str, run_id: str) -> list[ActionResult]:
    """Replay the corrections (one new ledger entry per original file); see the module docstring."""
    from include.imports import file_import

    corrections = read_corrections(corrections_text)
    sources = load_sources()
    with engine.connect() as conn:
        with conn.begin():
            targets = _open_quarantine(conn, corrections)
        missing = [(c.file_id, c.record_no) for c in corrections if (c.file_id, c.record_no) not in targets]
        resolved = [k for k, r in targets.items() if r.resolved_at is not None]
        if missing or resolved:
            raise ActionRefused("not_open_quarantine",
                                f"{len(missing)} (file, record) key(s) are not quarantined rows {missing[:20]} and "
                                f"{len(resolved)} are already resolved {resolved[:20]}; nothing was replayed")
        unknown_sources = sorted({targets[(c.file_id, c.record_no)].source_id for c in corrections} - set(sources))
        if unknown_sources:
            raise ActionRefused("unknown_source", f"source(s) {unknown_sources} are no longer configured")
        results = []
        by_file: dict[int, list[Correction]] = {}
        for c in sorted(corrections, key=lambda c: (c.file_id, c.record_no)):
            by_file.setdefault(c.file_id, []).append(c)
        for orig_file_id, group in by_file.items():
            results.append(_replay_file(conn, engine, ctx, file_import, sources, targets, orig_file_id, group, run_id))
    return results


def _replay_file(conn: sa.Connection, engine: sa.Engine, ctx: Context, file_import: Any,
                 sources: dict[str, SourceConfig], targets: dict[tuple[int, int], sa.Row], orig_file_id: int,
                 group: list[Correction], run_id: str) -> ActionResult:
    source = sources[targets[(orig_file_id, group[0].record_no)].source_id]
    params = {"orig_file_id": orig_file_id, "source_id": source.id, "records": [c.record_no for c in group]}
    with conn.begin():
        action_id = actions.record(conn, ctx, "replay_corrections", "dry_run" if ctx.dry_run else "applied", params)
    landing_dir = private_files.ensure_dir(stewardship_dir(run_id) / "replay" / source.id)
    for sub in ("incoming", "processed", "rejected"):
        private_files.ensure_dir(landing_dir / sub)
    path = landing_dir / "incoming" / f"replay_of_file_{orig_file_id}_action_{action_id}.csv"
    with open_owner_only(path) as fh:
        out = csv.writer(fh)
        out.writerow(REPLAY_HEADER)
        for c in group:
            raw = dict(targets[(orig_file_id, c.record_no)].raw_values or {})
            values = {k: _text(raw.get(k)) or "" for k in REPLAY_HEADER}
            values.update(c.values)
            out.writerow([values[k] for k in REPLAY_HEADER])
    try:
        result = file_import.import_file(engine, replay_source(source, landing_dir), str(path), run_id=run_id,
                                      dry_run=ctx.dry_run)
    except Exception:
        with conn.begin():
            conn.execute(sa.text("UPDATE patient_pipeline.steward_action SET status = 'refused', "
                                 "reason_code = 'import_failed' WHERE action_id = :a"), {"a": action_id})
        raise
    counts = {"records": len(group), "rows_read": result.rows_read, "inserted": result.inserted,
              "updated": result.updated, "unchanged": result.unchanged, "duplicates": result.duplicates,
              "quarantined_again": result.quarantined, "resolved": 0}
    with conn.begin():
        if result.file_id is not None:
            conn.execute(sa.text("UPDATE patient_pipeline.import_file SET replay_of = :o WHERE file_id = :f"),
                         {"o": orig_file_id, "f": result.file_id})
        if result.status == "done" and not ctx.dry_run:
            counts["resolved"] = sql_files.run(conn, "stewardship", "replay_resolve", action_id=action_id, new_file_id=result.file_id,
                                     orig_file_id=orig_file_id,
                                     orig_record_nos=[c.record_no for c in group]).rowcount
        actions.set_counts(conn, action_id, counts)
    if ctx.dry_run:
        path.unlink(missing_ok=True)
    status = "dry_run" if ctx.dry_run else ("applied" if result.status == "done" else "refused")
    if status == "refused":
        with conn.begin():
            conn.execute(sa.text("UPDATE patient_pipeline.steward_action SET status = 'refused', reason_code = :r "
                                 "WHERE action_id = :a"), {"a": action_id, "r": f"replay_{result.status}"})
    return ActionResult("replay_corrections", status, action_id,
                        reason_code=None if status != "refused" else f"replay_{result.status}",
                        params=params, counts=counts,
                        ids={"new_file_id": [result.file_id], "orig_file_id": [orig_file_id]})


def undo_replay(conn: sa.Connection, ctx: Context, target: actions.ActionRow) -> list[ActionResult]:
    """Undo a replay: its new file is undone (``undo_import``) and the original rows are open again."""
    from include.stewardship import undo_import

    new_file = conn.execute(sa.text(
        "SELECT DISTINCT new_file_id FROM patient_pipeline.steward_replay_record WHERE action_id = :a"),
        {"a": target.action_id}).scalars().all()
    if not new_file:
        raise ActionRefused("nothing_replayed", f"action {target.action_id} replayed nothing that can be undone")
    undone = undo_import.undo_import(conn, ctx, int(new_file[0]), undoes=target.action_id)
    reopened = conn.execute(sa.text(
        "UPDATE patient_pipeline.import_quarantine SET resolved_at = NULL, resolution = NULL, resolved_by = NULL, "
        "resolved_file_id = NULL, resolved_record_no = NULL WHERE resolved_by = :a"), {"a": target.action_id}).rowcount
    actions.mark_undone(conn, target.action_id, int(undone.action_id or 0))
    undone.counts["quarantine_rows_reopened"] = int(reopened)
    actions.set_counts(conn, int(undone.action_id or 0), undone.counts)
    return [undone]
