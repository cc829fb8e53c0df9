"""Review decisions: ``merge``, ``unmerge``, ``keep_separate``, ``dismiss`` (and their undo).

Items are addressed by key: ``import:<review_id>`` (name + DOB look-alikes, HL7 A40 merges, FHIR
replaced-by links found by an import), ``backfill:<entity>:<id>:<reason>`` (nameless invites attached
to the most recent of several persons, users whose identity is taken; one key covers every plan run) or
``match:<pair_id>`` (the matcher's probable duplicates, include/identity). The view
``patient_pipeline.review_queue`` lists every kind.

- ``merge(survivor, merged)``: invites, chat sessions, the user link and the identifiers per namespace
  (``patient_identifier``) move to the survivor; the
  survivor's empty fields are filled from the merged patient (never overwritten); the merged patient
  becomes ``archived`` and ``patient_pipeline.patient_merged_into`` points at the survivor. Refused
  (``different_accounts``, ``different_users``, ``already_archived``, ...) with a reason. Both rows are
  recorded exactly as they were (in the pipeline schema), so ``unmerge`` restores exactly what the merge
  changed (and refuses, ``changed_since_merge``, when either patient changed after it).
- ``keep_separate(item | two patients)``: the pair is remembered by its keys (ids, external ids,
  identity keys), so the imports' and the backfill's review SQL never queue it again; its open items
  are resolved.
- ``dismiss(items)``: the items are resolved, nothing else changes.

Every function runs inside the caller's transaction and returns an ``ActionResult`` (ids and counts).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from include.core import sql_files
from include.stewardship import actions
from include.stewardship.actions import ActionResult, Context
from include.stewardship.errors import ActionRefused, BadRequest

ITEM_PREFIXES = ("import:", "backfill:", "match:")


def check_item_keys(items: list[str]) -> list[str]:
    bad = [i for i in items if not isinstance(i, str) or not i.startswith(ITEM_PREFIXES)]
    if bad:
        raise BadRequest(f"review item keys look like 'import:<review_id>', "
                         f"'backfill:<entity>:<id>:<reason>' or 'match:<pair_id>'; got {len(bad)} other value(s). "
                         "List them with `python -m include.cli steward list review`.")
    return list(dict.fromkeys(items))


def review_items(conn: sa.Connection, items: list[str] | None = None, *, open_only: bool = True) -> list[dict[str, Any]]:
    """Review items with their side keys (the keys stay in the database layer: callers print ids only)."""
    return [dict(r) for r in sql_files.run(conn, "stewardship", "review_items", items=items, open_only=open_only).mappings()]


def _resolve(conn: sa.Connection, items: list[str], resolution: str, action_id: int) -> int:
    if not items:
        return 0
    row = sql_files.run(conn, "stewardship", "resolve_items", items=items, resolution=resolution, action_id=action_id).one()
    return int(row.import_rows) + int(row.backfill_rows) + int(row.match_rows)


def _items_of_pair(conn: sa.Connection, a: str, b: str) -> list[str]:
    """Open pair items (name + DOB look-alikes, the matcher's pairs) between ``a`` and ``b`` (either order)."""
    return [r["item"] for r in review_items(conn)
            if {r["patient_id"], r["candidate_patient_id"]} == {a, b}]


# --------------------------------------------------------------------------------------------- merge


def _refusal(state: dict[str, dict[str, Any]], survivor: str, merged: str) -> tuple[str, str] | None:
    if survivor == merged:
        return "same_patient", "survivor and merged are the same patient"
    missing = [p for p in (survivor, merged) if p not in state]
    if missing:
        return "unknown_patient", f"patient(s) {missing} do not exist"
    s, m = state[survivor], state[merged]
    for pid, row in ((survivor, s), (merged, m)):
        if row["status"] == "archived" or row["merged_into"]:
            return "already_archived", f"patient {pid} is archived (merged into {row['merged_into'] or '-'})"
    if s["account_id"] != m["account_id"]:
        return "different_accounts", (f"patients {survivor} and {merged} belong to different accounts "
                                      "(never merged across accounts)")
    if s["user_id"] and m["user_id"] and s["user_id"] != m["user_id"]:
        return "different_users", (f"patients {survivor} and {merged} are linked to different users "
                                   f"({s['user_id']}, {m['user_id']}); resolve the user accounts first")
    return None


def merge(conn: sa.Connection, ctx: Context, survivor: str, merged: str,
          items: list[str] | None = None) -> ActionResult:
    """Merge ``merged`` into ``survivor`` (see the module docstring). Refusals raise ``ActionRefused``."""
    items = check_item_keys(items or [])
    params = {"survivor_id": survivor, "merged_id": merged, "items": items}
    state = {r["id"]: dict(r) for r in sql_files.run(conn, "stewardship", "pair_state", survivor_id=survivor, merged_id=merged).mappings()}
    refusal = _refusal(state, survivor, merged)
    if refusal:
        raise ActionRefused(*refusal)
    action_id = actions.record(conn, ctx, "merge", "dry_run" if ctx.dry_run else "applied", params)
    snap = sql_files.run(conn, "stewardship", "merge_01_snapshot", action_id=action_id, survivor_id=survivor, merged_id=merged).one()
    moved = sql_files.run(conn, "stewardship", "merge_02_move_links", action_id=action_id).one()
    identifiers = sql_files.run(conn, "stewardship", "merge_06_move_identifiers", action_id=action_id).one()
    sql_files.run(conn, "stewardship", "merge_03_archive_merged", action_id=action_id)
    sql_files.run(conn, "stewardship", "merge_04_fill_survivor", action_id=action_id)
    sql_files.run(conn, "stewardship", "merge_05_finish", action_id=action_id)
    resolved = _resolve(conn, sorted(set(items) | set(_items_of_pair(conn, survivor, merged))), "merged", action_id)
    counts = {"invites_moved": int(moved.invites), "chat_sessions_moved": int(moved.chat_sessions),
              "user_link_moved": int(bool(snap.user_moved)), "fields_filled": len(snap.filled_fields),
              "identifiers_moved": int(identifiers.moved),
              "review_rows_resolved": resolved}
    actions.set_counts(conn, action_id, counts)
    return ActionResult("merge", "dry_run" if ctx.dry_run else "applied", action_id, params=params, counts=counts,
                        ids={"filled_fields": list(snap.filled_fields)})


def _merge_row(conn: sa.Connection, merge_action_id: int | None, merged: str | None) -> dict[str, Any]:
    where = "sm.action_id = :a" if merge_action_id is not None else "sm.merged_id = :m AND sm.unmerged_at IS NULL"
    row = conn.execute(sa.text(
        "SELECT sm.action_id, sm.survivor_id, sm.merged_id, sm.unmerged_at, "
        "sm.survivor_after_updated_at = s.updated_at AS survivor_same, "
        "sm.merged_after_updated_at = m.updated_at AS merged_same, "
        "cardinality(sm.moved_invite_ids) AS invites, cardinality(sm.moved_chat_session_ids) AS chats "
        "FROM patient_pipeline.steward_merge sm "
        "LEFT JOIN patients s ON s.id = sm.survivor_id LEFT JOIN patients m ON m.id = sm.merged_id "
        f"WHERE {where} ORDER BY sm.action_id DESC LIMIT 1 FOR UPDATE OF sm"),
        {"a": merge_action_id, "m": merged}).mappings().first()
    if row is None:
        raise ActionRefused("unknown_merge", f"no recorded merge for action {merge_action_id} / patient {merged}; "
                            "list merges with `python -m include.cli steward list actions`")
    return dict(row)


def unmerge(conn: sa.Connection, ctx: Context, *, merge_action_id: int | None = None,
            merged: str | None = None) -> ActionResult:
    """Take back one merge (by its action id, or the open merge of the merged patient id)."""
    if merge_action_id is None and not merged:
        raise BadRequest("unmerge needs the merge's action id (--merge-action) or the merged patient id (--merged)")
    m = _merge_row(conn, merge_action_id, merged)
    if m["unmerged_at"] is not None:
        raise ActionRefused("already_unmerged", f"merge {m['action_id']} was already unmerged")
    if not (m["survivor_same"] and m["merged_same"]):
        raise ActionRefused("changed_since_merge",
                            f"patient {m['survivor_id']} or {m['merged_id']} changed after merge {m['action_id']}; "
                            "an exact unmerge is not possible: fix the records by hand")
    params = {"merge_action_id": int(m["action_id"]), "survivor_id": m["survivor_id"], "merged_id": m["merged_id"]}
    action_id = actions.record(conn, ctx, "unmerge", "dry_run" if ctx.dry_run else "applied", params,
                               undoes=int(m["action_id"]))
    links = sql_files.run(conn, "stewardship", "unmerge_01_links", merge_action_id=m["action_id"]).one()
    identifiers = sql_files.run(conn, "stewardship", "unmerge_03_identifiers", merge_action_id=m["action_id"]).one()
    sql_files.run(conn, "stewardship", "unmerge_02_restore", merge_action_id=m["action_id"], side="survivor")
    sql_files.run(conn, "stewardship", "unmerge_02_restore", merge_action_id=m["action_id"], side="merged")
    conn.execute(sa.text(
        "UPDATE patient_pipeline.steward_merge SET unmerged_at = now() AT TIME ZONE 'utc', unmerged_by = :b "
        "WHERE action_id = :a"), {"a": m["action_id"], "b": action_id})
    reopened = sql_files.run(conn, "stewardship", "reopen_items", action_id=m["action_id"]).one()
    actions.mark_undone(conn, int(m["action_id"]), action_id)
    counts = {"invites_moved_back": int(links.invites), "chat_sessions_moved_back": int(links.chat_sessions),
              "identifiers_moved_back": int(identifiers.moved),
              "invites_left": int(m["invites"]) - int(links.invites),
              "chat_sessions_left": int(m["chats"]) - int(links.chat_sessions),
              "review_rows_reopened": int(reopened.import_rows) + int(reopened.backfill_rows) + int(reopened.match_rows)}
    actions.set_counts(conn, action_id, counts)
    return ActionResult("unmerge", "dry_run" if ctx.dry_run else "applied", action_id, params=params, counts=counts)


# --------------------------------------------------------------------------------------------- keep / dismiss


def _patient_keys(conn: sa.Connection, patient_id: str) -> list[str]:
    keys = conn.execute(sa.text(
        "SELECT patient_pipeline.steward_patient_keys(account_id, id, external_id, email, first_name) "
        "FROM patients WHERE id = :p"), {"p": patient_id}).scalar()
    if keys is None:
        raise ActionRefused("unknown_patient", f"patient {patient_id} does not exist")
    return list(keys)


def keep_separate(conn: sa.Connection, ctx: Context, *, item: str | None = None,
                  patients: tuple[str, str] | None = None) -> ActionResult:
    """Remember that the two sides of ``item`` (or two patients) are different people."""
    if bool(item) == bool(patients):
        raise BadRequest("keep_separate needs exactly one review item key (--item) or two patient ids (--patients)")
    if item:
        (item,) = check_item_keys([item])
        found = review_items(conn, [item], open_only=False)
        if not found:
            raise ActionRefused("unknown_item", f"review item {item} does not exist")
        left, right = found[0]["left_keys"], found[0]["right_keys"]
        params: dict[str, Any] = {"item": item}
    else:
        a, b = patients  # type: ignore[misc]
        if a == b:
            raise ActionRefused("same_patient", "the two patient ids are the same")
        left, right = _patient_keys(conn, a), _patient_keys(conn, b)
        params = {"patients": [a, b]}
    action_id = actions.record(conn, ctx, "keep_separate", "dry_run" if ctx.dry_run else "applied", params)
    conn.execute(sa.text(
        "INSERT INTO patient_pipeline.steward_kept_separate (action_id, left_keys, right_keys) VALUES (:a, :l, :r)"),
        {"a": action_id, "l": list(left), "r": list(right)})
    matching = [r["item"] for r in review_items(conn) if _overlaps(r, left, right)]
    resolved = _resolve(conn, matching, "kept_separate", action_id)
    counts = {"items_resolved": len(matching), "review_rows_resolved": resolved}
    actions.set_counts(conn, action_id, counts)
    return ActionResult("keep_separate", "dry_run" if ctx.dry_run else "applied", action_id, params=params,
                        counts=counts, ids={"items": matching})


def _overlaps(row: dict[str, Any], left: list[str], right: list[str]) -> bool:
    lk, rk = set(row["left_keys"]), set(row["right_keys"])
    return bool((lk & set(left) and rk & set(right)) or (lk & set(right) and rk & set(left)))


def dismiss(conn: sa.Connection, ctx: Context, items: list[str]) -> ActionResult:
    """Resolve review items without changing anything else (a later run may queue the pair again)."""
    items = check_item_keys(items)
    if not items:
        raise BadRequest("dismiss needs at least one review item key (--item)")
    found = {r["item"] for r in review_items(conn, items)}
    unknown = [i for i in items if i not in found]
    if unknown:
        raise ActionRefused("not_open", f"{len(unknown)} item(s) are not open review items: {unknown}")
    action_id = actions.record(conn, ctx, "dismiss", "dry_run" if ctx.dry_run else "applied", {"items": items})
    resolved = _resolve(conn, items, "dismissed", action_id)
    counts = {"items_resolved": len(items), "review_rows_resolved": resolved}
    actions.set_counts(conn, action_id, counts)
    return ActionResult("dismiss", "dry_run" if ctx.dry_run else "applied", action_id, params={"items": items},
                        counts=counts)


def undo_resolution(conn: sa.Connection, ctx: Context, target: actions.ActionRow) -> ActionResult:
    """Undo a keep_separate (the pair may be queued again) or a dismiss: the items it resolved reopen."""
    action_id = actions.record(conn, ctx, "undo_action", "dry_run" if ctx.dry_run else "applied",
                               {"action_id": target.action_id, "of": target.action}, undoes=target.action_id)
    revoked = conn.execute(sa.text(
        "UPDATE patient_pipeline.steward_kept_separate SET revoked_at = now() AT TIME ZONE 'utc', revoked_by = :b "
        "WHERE action_id = :a AND revoked_at IS NULL"), {"a": target.action_id, "b": action_id}).rowcount
    reopened = sql_files.run(conn, "stewardship", "reopen_items", action_id=target.action_id).one()
    actions.mark_undone(conn, target.action_id, action_id)
    counts = {"pairs_revoked": int(revoked),
              "review_rows_reopened": int(reopened.import_rows) + int(reopened.backfill_rows) + int(reopened.match_rows)}
    actions.set_counts(conn, action_id, counts)
    return ActionResult("undo_action", "dry_run" if ctx.dry_run else "applied", action_id,
                        params={"action_id": target.action_id}, counts=counts)


def open_items_summary(conn: sa.Connection) -> dict[str, Any]:
    """Open review items: counts by queue and kind, and their keys (ids only)."""
    rows = review_items(conn)
    by_kind: dict[str, int] = {}
    for r in rows:
        k = f"{r['queue']}:{r['kind']}"
        by_kind[k] = by_kind.get(k, 0) + 1
    return {"open_items": len(rows), "by_kind": by_kind,
            "items": [{"item": r["item"], "kind": r["kind"], "file_id": r["file_id"], "patient_id": r["patient_id"],
                       "candidate_patient_id": r["candidate_patient_id"]} for r in rows]}
