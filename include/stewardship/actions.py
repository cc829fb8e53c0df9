"""The stewardship action log (``patient_pipeline.steward_action``): who, what, when; ids and counts only.

Each action row is written in the transaction that applies the action, so an action is recorded exactly
when it happened. A refusal and a dry run are recorded too (in their own short transaction), so the log
shows what was tried. ``undo`` takes back a recorded action where that makes sense (merge -> unmerge,
keep_separate -> the pair may be queued again, dismiss -> the items are open again, replay_corrections ->
the replayed file is undone and the original rows are open again).
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from include.stewardship.errors import ActionRefused

#: Actions that change patients or links: a real run needs ``confirm`` = the word here.
CONFIRM_WORDS = {
    "merge": "MERGE",
    "unmerge": "UNMERGE",
    "undo_import": "UNDO_IMPORT",
    "replay_corrections": "REPLAY",
    "undo_action": "UNDO",
    "decisions": "APPLY",
}


@dataclass(frozen=True)
class Context:
    """Who runs an action and how: ``origin`` dag / cli / test; ``dag_run_id`` for a DAG run."""

    actor: str
    origin: str = "cli"
    dag_run_id: str | None = None
    dry_run: bool = True

    @staticmethod
    def for_cli(*, dry_run: bool) -> Context:
        return Context(actor=getpass.getuser(), origin="cli", dry_run=dry_run)


@dataclass
class ActionResult:
    """What one action did (ids, counts, reason codes): what the report and the CLI print."""

    action: str
    status: str  # applied | refused | dry_run
    action_id: int | None = None
    reason_code: str | None = None
    message: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    ids: dict[str, list[Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "status": self.status, "action_id": self.action_id,
                "reason_code": self.reason_code, "message": self.message, "params": self.params,
                "counts": self.counts, "ids": self.ids}


def record(conn: sa.Connection, ctx: Context, action: str, status: str, params: dict[str, Any],
           counts: dict[str, int] | None = None, *, reason_code: str | None = None,
           undoes: int | None = None) -> int:
    """Insert one action row (inside the caller's transaction); returns its id."""
    return int(conn.execute(sa.text(
        "INSERT INTO patient_pipeline.steward_action (action, actor, origin, dag_run_id, dry_run, status, "
        "reason_code, params, counts, undoes) VALUES (:a, :actor, :o, :r, :d, :s, :rc, "
        "CAST(:p AS jsonb), CAST(:c AS jsonb), :u) RETURNING action_id"),
        {"a": action, "actor": ctx.actor, "o": ctx.origin, "r": ctx.dag_run_id, "d": ctx.dry_run, "s": status,
         "rc": reason_code, "p": json.dumps(params, default=str), "c": json.dumps(counts or {}), "u": undoes},
    ).scalar_one())


def set_counts(conn: sa.Connection, action_id: int, counts: dict[str, int]) -> None:
    conn.execute(sa.text("UPDATE patient_pipeline.steward_action SET counts = CAST(:c AS jsonb) WHERE action_id = :i"),
                 {"c": json.dumps(counts), "i": action_id})


def mark_undone(conn: sa.Connection, action_id: int, by: int) -> None:
    conn.execute(sa.text(
        "UPDATE patient_pipeline.steward_action SET status = 'undone', undone_by = :b WHERE action_id = :i"),
        {"b": by, "i": action_id})


@dataclass(frozen=True)
class ActionRow:
    action_id: int
    action: str
    status: str
    params: dict[str, Any]
    undone_by: int | None


def get(conn: sa.Connection, action_id: int) -> ActionRow:
    row = conn.execute(sa.text(
        "SELECT action_id, action, status, params, undone_by FROM patient_pipeline.steward_action "
        "WHERE action_id = :i FOR UPDATE"), {"i": action_id}).first()
    if row is None:
        raise ActionRefused("unknown_action", f"no stewardship action {action_id}; list them with "
                            "`python -m include.cli steward list actions`")
    return ActionRow(int(row[0]), row[1], row[2], dict(row[3] or {}), row[4])


def recent(conn: sa.Connection, limit: int = 50) -> list[dict[str, Any]]:
    """The newest actions (ids, counts, reason codes)."""
    rows = conn.execute(sa.text(
        "SELECT action_id, action, status, reason_code, actor, origin, dry_run, counts, undoes, undone_by, "
        "created_at FROM patient_pipeline.steward_action ORDER BY action_id DESC LIMIT :n"), {"n": limit}).mappings()
    return [dict(r) for r in rows]
