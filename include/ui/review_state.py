"""What the steward's review page reads and does (docs/contracts/identity.md §4), apart from HTTP.

- the queue (:func:`queue_page`): open items of ``patient_pipeline.review_queue``, ranked; ids only;
- one item (:func:`item_view`): the item's own patients (never another id: the ids come from the item,
  and a patient of another account than the item's is withheld), their fields compared, the evidence,
  what each is linked to and earlier decisions. The only place values are read for the UI;
- decisions (:func:`decide`): the stewardship actions of ``include/stewardship`` run directly under the
  pipeline lease, recorded with the signed-in user as actor (origin ``ui``), undoable like any other;
- the audit (``patient_pipeline.review_audit``): every view of an item's values and every decision (who,
  when, item and patient ids, outcome; never a value).

Logs get ids, counts and reason codes only.
"""

from __future__ import annotations

import logging
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from include.core import pipeline_dags, sql_files
from include.core.errors import ConfirmationMissing, GenascopeError

log = logging.getLogger(__name__)

PAGE_SIZE = 25
STEWARD_DAG = pipeline_dags.STEWARDSHIP.dag_id
LEASE_HOLDER = "ui:review"
#: Pair kinds: both sides are patients and may be merged.
DECISIONS = ("merge", "keep_separate", "dismiss", "unmerge")
#: The fields shown side by side, in this order (label, column).
FIELDS = (("External id", "external_id"), ("First name", "first_name"), ("Last name", "last_name"),
          ("Date of birth", "date_of_birth"), ("E-mail", "email"), ("Phone", "phone"), ("Status", "status"),
          ("Clinician", "clinician_id"), ("User", "user_id"), ("Notes", "notes"), ("Created", "created_at"),
          ("Updated", "updated_at"))
_FORM_ONLY = "differs only in spacing/case/accents"


class ItemNotFound(GenascopeError, LookupError):
    """No review item with this id."""


def engine() -> sa.Engine:
    from include.core import db
    from include.ui import pipeline_state

    return db.app_engine(pipeline_state.app_database().uri)


def ensure_schema(conn: sa.Connection) -> None:
    """The pipeline schema (with the audit table) exists: created on first use like every task does."""
    if conn.execute(sa.text("SELECT to_regclass('patient_pipeline.review_audit') IS NULL")).scalar():
        from include.core import pipeline_schema

        conn.rollback()
        pipeline_schema.ensure(conn)


# --------------------------------------------------------------------------------------------- queue


@dataclass
class Filters:
    account: str | None = None
    kind: str | None = None
    origin: str | None = None
    page: int = 1

    @staticmethod
    def of(account: str | None, kind: str | None, origin: str | None, page: int | None) -> Filters:
        def clean(v: str | None) -> str | None:
            v = (v or "").strip()
            return v[:200] or None

        return Filters(clean(account), clean(kind), clean(origin), max(1, min(int(page or 1), 100_000)))

    def query(self, *, page: int | None = None) -> dict[str, str]:
        """The filters (and page) as query parameters: what keeps the steward's place in the queue."""
        q = {k: v for k, v in (("account", self.account), ("kind", self.kind), ("origin", self.origin)) if v}
        p = self.page if page is None else page
        if p > 1:
            q["page"] = str(p)
        return q


@dataclass
class QueuePage:
    filters: Filters
    items: list[dict[str, Any]]
    total: int
    pages: int
    sizes: dict[str, int]  # open items by kind (all accounts and origins)
    open_total: int
    accounts: list[str]
    kinds: list[str]
    origins: list[str]


def queue_page(conn: sa.Connection, filters: Filters, page_size: int = PAGE_SIZE) -> QueuePage:
    sizes_rows = [dict(r) for r in conn.execute(sql_files.statement("ui", "review_queue_sizes")).mappings()]
    sizes: dict[str, int] = {}
    for r in sizes_rows:
        sizes[r["kind"]] = sizes.get(r["kind"], 0) + int(r["items"])
    rows = [dict(r) for r in conn.execute(sql_files.statement("ui", "review_queue_page"), {
        "account": filters.account, "kind": filters.kind, "origin": filters.origin, "limit": page_size,
        "offset": (filters.page - 1) * page_size}).mappings()]
    total = int(rows[0]["total"]) if rows else 0
    if not rows and filters.page > 1:  # past the end (the queue shrank): count what matches
        first = conn.execute(sql_files.statement("ui", "review_queue_page"), {
            "account": filters.account, "kind": filters.kind, "origin": filters.origin, "limit": 1,
            "offset": 0}).mappings().first()
        total = int(first["total"]) if first else 0
    return QueuePage(filters, rows, total, max(1, -(-total // page_size)), sizes, sum(sizes.values()),
                     sorted({r["account_id"] for r in sizes_rows if r["account_id"]}),
                     sorted({r["kind"] for r in sizes_rows}), sorted({r["origin_kind"] for r in sizes_rows}))


# --------------------------------------------------------------------------------------------- one item


def get_item(conn: sa.Connection, item_id: str) -> dict[str, Any]:
    row = conn.execute(sql_files.statement("ui", "review_item"), {"item_id": item_id}).mappings().first()
    if row is None:
        raise ItemNotFound(item_id)
    return dict(row)


def item_patient_ids(item: dict[str, Any]) -> list[str]:
    return [p for p in (item["patient_id"], item["candidate_patient_id"]) if p]


def _display(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _same_form(column: str, a: str, b: str) -> bool:
    from include.normalize import keys

    if column == "email":
        return keys.email_key(a) == keys.email_key(b)
    if column == "phone":
        return [c for c in a if c.isdigit()] == [c for c in b if c.isdigit()]
    if keys.key_form(a) == keys.key_form(b):
        return True
    strip = [("".join(c for c in unicodedata.normalize("NFKD", keys.key_form(v) or "")
                      if not unicodedata.combining(c))) for v in (a, b)]
    return strip[0] == strip[1]


def compare(left: dict[str, Any] | None, right: dict[str, Any] | None) -> list[dict[str, str]]:
    """The fields side by side: ``state`` same | form (differs only in spacing/case/accents) | differs |
    one_empty, with the words a screen reader reads (never colour alone)."""
    out = []
    for label, column in FIELDS:
        a = _display(left.get(column)) if left else ""
        b = _display(right.get(column)) if right else ""
        if right is None:
            state, note = "single", ""
        elif not a and not b:
            state, note = "empty", "both empty"
        elif a == b:
            state, note = "same", "same"
        elif not a or not b:
            state, note = "one_empty", "only one has a value"
        elif column not in ("created_at", "updated_at", "status") and _same_form(column, a, b):
            state, note = "form", _FORM_ONLY
        else:
            state, note = "differs", "differs"
        if column in ("created_at", "updated_at") and state == "differs":
            state, note = "info", ""
        out.append({"label": label, "column": column, "left": a, "right": b, "state": state, "note": note})
    return out


def evidence_rows(evidence: Any) -> list[dict[str, Any]]:
    """The matcher's evidence as (field, level, weight) rows. Accepted shapes: ``{field: {"level" |
    "comparison_level" | "label": ..., "match_weight" | "weight": w}}``, ``{field: w}`` or a list of
    ``{"field" | "comparison", "level", "match_weight"}`` objects. Anything else is left out."""
    rows: list[dict[str, Any]] = []

    def add(name: Any, spec: Any) -> None:
        if isinstance(spec, bool):
            return
        if isinstance(spec, int | float):
            rows.append({"field": str(name), "level": "", "weight": float(spec)})
        elif isinstance(spec, dict):
            w = next((spec[k] for k in ("match_weight", "weight", "log2_bayes_factor") if k in spec), None)
            level = next((spec[k] for k in ("level", "comparison_level", "label", "label_for_charts") if k in spec), "")
            if isinstance(w, int | float) and not isinstance(w, bool):
                rows.append({"field": str(name), "level": str(level), "weight": float(w)})

    if isinstance(evidence, dict):
        for name, spec in evidence.items():
            add(name, spec)
    elif isinstance(evidence, list):
        for spec in evidence:
            if isinstance(spec, dict):
                add(spec.get("field") or spec.get("comparison") or spec.get("output_column_name") or "?", spec)
    return rows


@dataclass
class ItemView:
    item: dict[str, Any]
    left: dict[str, Any] | None
    right: dict[str, Any] | None
    withheld: list[str]  # ids of the item's patients not shown (another account than the item's)
    fields: list[dict[str, str]]
    evidence: list[dict[str, Any]]
    links: dict[str, list[dict[str, Any]]]
    history: list[dict[str, Any]]
    pair: bool = field(default=False)


def item_view(conn: sa.Connection, item_id: str) -> ItemView:
    """One item with its own patients' values. Only the item's two ids are read; a patient whose account is
    not the item's (or, for items without an account, not the other side's) is withheld."""
    item = get_item(conn, item_id)
    ids = item_patient_ids(item)
    found = {r["id"]: dict(r) for r in conn.execute(sql_files.statement("ui", "review_patients"), {"ids": ids}).mappings()}
    account = item["account_id"]
    if account is None and len(found) == 2:
        accounts = {p["account_id"] for p in found.values()}
        account = accounts.pop() if len(accounts) == 1 else "\x00none"
    shown = {pid: p for pid, p in found.items() if account is None or p["account_id"] == account}
    withheld = [pid for pid in ids if pid in found and pid not in shown]
    left = shown.get(item["patient_id"]) if item["patient_id"] else None
    right = shown.get(item["candidate_patient_id"]) if item["candidate_patient_id"] else None
    shown_ids = list(shown)
    links: dict[str, list[dict[str, Any]]] = {pid: [] for pid in shown_ids}
    if shown_ids:
        for r in conn.execute(sql_files.statement("ui", "review_links"), {"ids": shown_ids}).mappings():
            links.setdefault(r["patient_id"], []).append(dict(r))
        for pid, p in shown.items():
            if p["user_id"]:
                links[pid].insert(0, {"patient_id": pid, "link": "user", "ref": p["user_id"],
                                      "detail": f"{p['user_role'] or ''}{'' if p['user_active'] else ' (inactive)'}",
                                      "at": None})
            if p["merged_into"]:
                links[pid].insert(0, {"patient_id": pid, "link": "merged_into", "ref": p["merged_into"],
                                      "detail": "archived by a merge", "at": None})
    history = ([dict(r) for r in conn.execute(sql_files.statement("ui", "review_history"), {"ids": shown_ids, "item_id": item_id})
                .mappings()] if shown_ids else [])
    return ItemView(item, left, right, withheld, compare(left, right) if left or right else [],
                    evidence_rows(item["evidence"]), links, history,
                    pair=bool(left and right))


# --------------------------------------------------------------------------------------------- audit


def audit(conn: sa.Connection, actor: str, event: str, item_id: str, patient_ids: list[str], *,
          action: str | None = None, outcome: str | None = None, reason_code: str | None = None,
          action_id: int | None = None) -> None:
    conn.execute(sql_files.statement("ui", "review_audit_insert"), {
        "actor": actor, "event": event, "item_id": item_id, "patient_ids": patient_ids, "action": action,
        "outcome": outcome, "reason_code": reason_code, "action_id": action_id})


def audit_by_user(conn: sa.Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sql_files.statement("ui", "review_audit_by_user")).mappings()]


def action_row(conn: sa.Connection, action_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.text(
        "SELECT action_id, action, status, reason_code, actor, origin, counts, created_at, undone_by "
        "FROM patient_pipeline.steward_action WHERE action_id = :i"), {"i": action_id}).mappings().first()
    return dict(row) if row else None


# --------------------------------------------------------------------------------------------- decisions


@dataclass
class Outcome:
    """What a decision did: ``status`` applied | refused | busy | error; ids and reason codes only."""

    decision: str
    status: str
    action_id: int | None = None
    reason_code: str | None = None
    message: str = ""


class BadDecision(GenascopeError, ValueError):
    """The form asks for something this item does not allow (unknown decision, a survivor not in the pair)."""


class ItemNotOpen(BadDecision):
    """The item is not (or no longer) in the state the decision needs: someone decided it meanwhile."""


def _ui_lease(eng: sa.Engine, run_id: str):
    from include.core import lease

    return lease.held(eng, LEASE_HOLDER, run_id)


def request_for(item: dict[str, Any], decision: str, survivor: str | None) -> Any:
    """The stewardship request a decision on this item is (validated against the item)."""
    from include.stewardship.actions import CONFIRM_WORDS
    from include.stewardship.request import Request

    item_id, ids = item["item_id"], item_patient_ids(item)
    if decision not in DECISIONS:
        raise BadDecision("unknown decision")
    if decision == "unmerge":
        if item["status"] != "merged" or not item["resolved_by"]:
            raise ItemNotOpen("only a merged item can be unmerged")
        return Request(action="unmerge", dry_run=False, confirm=CONFIRM_WORDS["unmerge"],
                       merge_action_id=int(item["resolved_by"]))
    if item["status"] != "open":
        raise ItemNotOpen(f"the item is {item['status']}, not open")
    if decision == "merge":
        if len(ids) != 2 or survivor not in ids:
            raise BadDecision("merge needs the survivor to be one of the item's two patients")
        merged = ids[1] if survivor == ids[0] else ids[0]
        return Request(action="merge", dry_run=False, confirm=CONFIRM_WORDS["merge"], survivor_id=survivor,
                       merged_id=merged, items=[item_id])
    return Request(action=decision, dry_run=False, items=[item_id])


def decide(eng: sa.Engine, actor: str, item_id: str, decision: str, survivor: str | None = None) -> Outcome:
    """Run one decision on one item under the pipeline lease (recorded with ``actor``, origin ``ui``) and
    audit it. Refusals (different users, different accounts, ...) and a busy lease are outcomes, not errors."""
    from include.core.locks import PipelineBusy
    from include.stewardship import dispatch
    from include.stewardship.actions import Context
    from include.stewardship.errors import StewardshipError

    with eng.connect() as conn:
        ensure_schema(conn)
        item = get_item(conn, item_id)
        conn.rollback()
    try:
        request_for(item, decision, survivor)  # a bad form is refused before the lease is asked for
    except ItemNotOpen:
        pass  # checked again under the lease: an outcome for the page, not an error
    ctx = Context(actor=actor, origin="ui", dry_run=False)
    run_id = f"ui__{datetime.now(UTC):%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:6]}"
    try:
        with _ui_lease(eng, run_id):
            with eng.connect() as conn:  # under the lease: the item as it is now (another steward may have
                item = get_item(conn, item_id)  # decided it since the page was shown)
                conn.rollback()
            (result,) = dispatch.execute(eng, request_for(item, decision, survivor), ctx, run_id)
        outcome = Outcome(decision, result.status, result.action_id, result.reason_code, result.message or "")
    except PipelineBusy as exc:
        outcome = Outcome(decision, "busy", reason_code="pipeline_busy", message=str(exc))
    except (StewardshipError, ConfirmationMissing) as exc:
        outcome = Outcome(decision, "error", reason_code=type(exc).__name__, message=str(exc))
    except ItemNotOpen as exc:  # decided by someone else meanwhile
        outcome = Outcome(decision, "refused", reason_code="not_open", message=str(exc))
    with eng.begin() as conn:
        audit(conn, actor, "decision", item_id, item_patient_ids(item), action=decision, outcome=outcome.status,
              reason_code=outcome.reason_code, action_id=outcome.action_id)
    log.info("review page decision on %s: %s %s (action %s)%s", item_id, decision, outcome.status,
             outcome.action_id, f" reason {outcome.reason_code}" if outcome.reason_code else "")
    return outcome


def lease_holder(conn: sa.Connection) -> dict[str, Any] | None:
    from include.core import lease

    h = lease.holder(conn)
    return {"dag_id": h.dag_id, "run_id": h.run_id, "expires_in_s": int(h.expires_in_s)} if h else None
