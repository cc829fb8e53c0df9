"""One stewardship request, as the DAG's Params form, the CLI or the review page gives it, and its check
without a database: the action, its ids and the confirmation word (``MERGE``, ``UNMERGE``, ``UNDO_IMPORT``,
``REPLAY``, ``UNDO``, ``APPLY`` for a decisions file) of a real run of a destructive action."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from include.core.errors import ConfirmationMissing
from include.stewardship import review
from include.stewardship.actions import CONFIRM_WORDS
from include.stewardship.errors import BadRequest

ACTIONS = ("merge", "unmerge", "keep_separate", "dismiss", "export_worklist", "replay_corrections",
           "undo_import", "undo_action", "decisions", "identity_match")


#: Actions a decisions file may hold (one per entry).
DECISION_ACTIONS = ("merge", "unmerge", "keep_separate", "dismiss")


@dataclass
class Request:
    action: str
    dry_run: bool = True
    confirm: str = ""
    survivor_id: str = ""
    merged_id: str = ""
    items: list[str] = field(default_factory=list)
    patients: list[str] = field(default_factory=list)
    merge_action_id: int | None = None
    file_id: int | None = None
    source_id: str = ""
    night: str = ""
    input_file: str = ""
    target_action_id: int | None = None
    account_id: str = ""
    match_mode: str = "full"

    @staticmethod
    def from_params(p: dict[str, Any]) -> Request:
        """From the DAG's Params (every key optional except ``action``; None, empty, blank and a lone ``-``
        mean "not given", as do such entries of a list)."""
        def text(key: str) -> str:
            value = p.get(key)
            value = "" if value is None else str(value).strip()
            return "" if value in NOT_SET else value

        def many(key: str) -> list[str]:
            value = p.get(key) or []
            if isinstance(value, str):  # a single value typed into a list field
                value = value.splitlines()
            return [str(v).strip() for v in value if str(v).strip() not in NOT_SET]

        def opt_int(key: str) -> int | None:
            value = p.get(key)
            if value in (None, "", 0) or str(value).strip() in NOT_SET:
                return None
            try:
                return int(value)
            except (TypeError, ValueError):
                raise BadRequest(f"{key} must be a number") from None

        return Request(action=text("action"), dry_run=bool(p.get("dry_run", True)),
                       confirm=text("confirm"), survivor_id=text("survivor_id"),
                       merged_id=text("merged_id"), items=many("items"),
                       patients=many("patients"), merge_action_id=opt_int("merge_action_id"),
                       file_id=opt_int("file_id"), source_id=text("source_id"),
                       night=text("night"), input_file=text("input_file"),
                       target_action_id=opt_int("target_action_id"), account_id=text("account_id"),
                       match_mode=text("match_mode") or "full")

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["confirm"] = bool(self.confirm)  # whether it was given; the word itself is no information
        return d


#: What a form field left "empty" may hold: nothing, or a placeholder dash typed to get past a required field.
NOT_SET = ("", "-", "—")


def validate(req: Request) -> None:
    """Check the request without a database (what the DAG's first task does): action, ids, confirmation."""
    if req.action not in ACTIONS:
        raise BadRequest(f"unknown action {req.action!r}; one of {', '.join(ACTIONS)}")
    need: dict[str, bool] = {
        "merge": bool(req.survivor_id and req.merged_id),
        "unmerge": bool(req.merge_action_id or req.merged_id),
        "keep_separate": bool(req.items) != bool(req.patients) and (not req.patients or len(req.patients) == 2)
        and len(req.items) <= 1,
        "dismiss": bool(req.items),
        "export_worklist": bool(req.file_id or req.source_id or req.night),
        "replay_corrections": bool(req.input_file),
        "undo_import": bool(req.file_id),
        "undo_action": bool(req.target_action_id),
        "decisions": bool(req.input_file),
        "identity_match": req.match_mode in ("full", "incremental"),
    }
    hints = {
        "merge": "survivor_id and merged_id", "unmerge": "merge_action_id (or merged_id)",
        "keep_separate": "one review item key (items) or two patient ids (patients)",
        "dismiss": "one or more review item keys (items)", "export_worklist": "file_id, source_id or night",
        "replay_corrections": "input_file (a corrections CSV)", "undo_import": "file_id",
        "undo_action": "target_action_id", "decisions": "input_file (a decisions JSON or CSV)",
        "identity_match": "match_mode full or incremental (account_id: one account, empty = all)",
    }
    if not need[req.action]:
        raise BadRequest(f"action {req.action} needs {hints[req.action]}")
    if req.items:
        review.check_item_keys(req.items)
    if req.night:
        parse_night(req.night)
    word = CONFIRM_WORDS.get(req.action)
    if word and not req.dry_run and req.confirm != word:
        raise ConfirmationMissing(
            f"{req.action} without dry run changes patients: set confirm to {word} (it is {'empty' if not req.confirm else 'something else'}); "
            "nothing was changed")


def parse_night(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest("night must be a date YYYY-MM-DD (the UTC date the files were registered)") from None
