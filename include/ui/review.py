"""Routes of the steward's "Review queue" page (navigation) and its JSON API (docs/contracts/identity.md §4).

Every route needs edit access on ``patient_stewardship`` (anonymous: 401, read access only: 403), except the
audit counts (read access on it: user names and counts only). Every response carries
``Cache-Control: no-store`` (the app's middleware, see :mod:`include.ui.app`).

- ``GET /review``: the open items ranked (ids, kinds, probabilities; no values), filters, paging, sizes;
- ``GET /review/items/{item_id}``: one item side by side (values): audited as a view;
- ``POST /review/items/{item_id}/decision``: merge into either patient / keep separate / dismiss / unmerge;
  same-origin check and a CSRF token bound to the signed-in session; answers 303 back to the item with the
  outcome, keeping the queue's filters and page;
- ``GET /review/api/items`` and ``GET /review/api/items/{item_id}``: the same as JSON (the item audited);
- ``GET /review/audit``: views and decisions per user.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from include.ui import charts, review_state
from include.ui.auth import COOKIE_NAME, Steward, StewardshipReader
from include.ui.review_state import Filters
from include.ui.templating import render

router = APIRouter(tags=["review"])

REASONS = {
    "different_users": "the two patients are linked to different user accounts: resolve the user accounts first",
    "different_accounts": "the two patients belong to different accounts: never merged across accounts",
    "already_archived": "one of the patients is already archived (merged into another patient)",
    "unknown_patient": "one of the patients no longer exists",
    "same_patient": "both sides are the same patient",
    "not_open": "the item is no longer open (someone decided it meanwhile)",
    "unknown_item": "the item does not exist",
    "already_unmerged": "this merge was already unmerged",
    "changed_since_merge": "a patient changed after the merge: an exact unmerge is not possible",
    "unknown_merge": "no recorded merge for this item",
    "pipeline_busy": "the pipeline lease is held by a running DAG: nothing was changed, try again when it is done",
}


def _user_name(user: Any) -> str:
    return str(user.get_name())


def _filters(account: str | None, kind: str | None, origin: str | None, page: int | None) -> Filters:
    return Filters.of(account, kind, origin, page)


def _base(request: Request) -> str:
    """The plugin app's mount path (``/genascope``), as the api-server mounted it."""
    return str(request.scope.get("root_path") or "").rstrip("/")


def _item_url(request: Request, item_id: str, filters: Filters, **extra: Any) -> str:
    q = {**filters.query(), **{k: str(v) for k, v in extra.items() if v not in (None, "")}}
    return f"{_base(request)}/review/items/{quote(item_id, safe='')}" + (f"?{urlencode(q)}" if q else "")


def _queue_url(request: Request, filters: Filters, page: int | None = None) -> str:
    q = filters.query(page=page)
    return f"{_base(request)}/review" + (f"?{urlencode(q)}" if q else "")


# --------------------------------------------------------------------------------------------- CSRF


def _session_token(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.cookies.get(COOKIE_NAME, "")


def csrf_token(request: Request, item_id: str) -> str:
    """A token bound to the signed-in session (the JWT, which another site cannot read) and to the item."""
    key = hashlib.sha256(_session_token(request).encode()).digest()
    return hmac.new(key, f"genascope-review:{item_id}".encode(), hashlib.sha256).hexdigest()


def _check_same_origin(request: Request) -> None:
    """A decision must come from a page of this server: Origin (or Referer) names the Host it was sent to."""
    source = request.headers.get("origin") or request.headers.get("referer") or ""
    host = request.headers.get("x-forwarded-host") or request.headers.get("host") or ""
    if not source or source == "null" or urlsplit(source).netloc.lower() != host.split(",")[0].strip().lower():
        raise HTTPException(status.HTTP_403_FORBIDDEN, "cross-origin request refused: decide from the review page")


def _check_csrf(request: Request, item_id: str, given: str) -> None:
    _check_same_origin(request)
    if not given or not hmac.compare_digest(given, csrf_token(request, item_id)):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or stale form token: reload the item and try again")


# --------------------------------------------------------------------------------------------- pages


@router.get("/review", response_class=HTMLResponse, summary="The review queue (HTML; ids only)")
def queue_page(request: Request, user: Steward, account: str | None = None, kind: str | None = None,
               origin: str | None = None, page: Annotated[int, Query(ge=1)] = 1) -> HTMLResponse:
    filters = _filters(account, kind, origin, page)
    eng = review_state.engine()
    with eng.connect() as conn:
        review_state.ensure_schema(conn)
        data = review_state.queue_page(conn, filters)
        conn.rollback()
    return HTMLResponse(render(
        "review_queue.html", q=data, base=_base(request),
        item_url=lambda item_id: _item_url(request, item_id, filters),
        page_url=lambda p: _queue_url(request, filters, p), user_name=_user_name(user)))


def _load_item(item_id: str, actor: str) -> review_state.ItemView:
    """The item's view, audited in the same transaction (no audit row, no values)."""
    eng = review_state.engine()
    with eng.connect() as conn:
        review_state.ensure_schema(conn)
        try:
            view = review_state.item_view(conn, item_id)
        except review_state.ItemNotFound:
            conn.rollback()
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such review item") from None
        shown = [p["id"] for p in (view.left, view.right) if p]
        review_state.audit(conn, actor, "view", item_id, shown)
        conn.commit()
    return view


@router.get("/review/items/{item_id}", response_class=HTMLResponse, summary="One review item side by side (HTML)")
def item_page(request: Request, item_id: str, user: Steward, account: str | None = None, kind: str | None = None,
              origin: str | None = None, page: Annotated[int, Query(ge=1)] = 1, outcome: str | None = None,
              decision: str | None = None, action_id: int | None = None, reason: str | None = None) -> HTMLResponse:
    filters = _filters(account, kind, origin, page)
    view = _load_item(item_id, _user_name(user))
    result = None
    if outcome:
        eng = review_state.engine()
        with eng.connect() as conn:
            action = review_state.action_row(conn, action_id) if action_id else None
            holder = review_state.lease_holder(conn) if outcome == "busy" else None
            conn.rollback()
        result = {"status": outcome, "decision": decision or "", "action": action, "reason": reason or "",
                  "explanation": REASONS.get(reason or "", ""), "holder": holder}
    chart = charts.weight_chart("Match weight per field (evidence for → / against ←)",
                                [(f"{e['field']}{': ' + e['level'] if e['level'] else ''}", e["weight"])
                                 for e in view.evidence])
    return HTMLResponse(render(
        "review_item.html", v=view, chart=chart, result=result, csrf=csrf_token(request, item_id),
        action_url=f"{_base(request)}/review/items/{quote(item_id, safe='')}/decision",
        back_url=_queue_url(request, filters), filters=filters.query(), user_name=_user_name(user)))


@router.post("/review/items/{item_id}/decision", summary="Decide one review item (form post from the item page)")
def decide(request: Request, item_id: str, user: Steward, decision: Annotated[str, Form()],
           csrf: Annotated[str, Form()] = "", survivor: Annotated[str, Form()] = "",
           account: Annotated[str, Form()] = "", kind: Annotated[str, Form()] = "",
           origin: Annotated[str, Form()] = "", page: Annotated[int, Form()] = 1) -> RedirectResponse:
    _check_csrf(request, item_id, csrf)
    filters = _filters(account, kind, origin, page)
    try:
        result = review_state.decide(review_state.engine(), _user_name(user), item_id, decision, survivor or None)
    except review_state.ItemNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such review item") from None
    except review_state.BadDecision as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    return RedirectResponse(_item_url(request, item_id, filters, outcome=result.status, decision=result.decision,
                                      action_id=result.action_id, reason=result.reason_code),
                            status_code=status.HTTP_303_SEE_OTHER)


@router.get("/review/audit", response_class=HTMLResponse, summary="Review page views and decisions per user")
def audit_page(request: Request, user: StewardshipReader) -> HTMLResponse:
    eng = review_state.engine()
    with eng.connect() as conn:
        review_state.ensure_schema(conn)
        rows = review_state.audit_by_user(conn)
        conn.rollback()
    return HTMLResponse(render("review_audit.html", rows=rows, base=_base(request)))


# --------------------------------------------------------------------------------------------- JSON


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


@router.get("/review/api/items", summary="The open review items (JSON; ids only)")
def api_queue(user: Steward, account: str | None = None, kind: str | None = None, origin: str | None = None,
              page: Annotated[int, Query(ge=1)] = 1) -> JSONResponse:
    filters = _filters(account, kind, origin, page)
    with review_state.engine().connect() as conn:
        review_state.ensure_schema(conn)
        data = review_state.queue_page(conn, filters)
        conn.rollback()
    return JSONResponse(_jsonable({
        "total": data.total, "page": filters.page, "pages": data.pages, "open_by_kind": data.sizes,
        "items": [{k: r[k] for k in ("item_id", "kind", "account_id", "patient_id", "candidate_patient_id",
                                     "match_probability", "origin_kind", "origin", "created_at")}
                  for r in data.items]}))


@router.get("/review/api/items/{item_id}", summary="One review item with both patients' values (JSON; audited)")
def api_item(item_id: str, user: Steward) -> JSONResponse:
    view = _load_item(item_id, _user_name(user))
    item = {k: v for k, v in view.item.items() if k != "evidence"}
    return JSONResponse(_jsonable({
        "item": item, "evidence": view.evidence, "fields": view.fields,
        "patients": [p for p in (view.left, view.right) if p], "withheld_patient_ids": view.withheld,
        "links": view.links, "history": view.history}))
