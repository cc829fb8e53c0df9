"""The audit of every call (``patient_pipeline.api_audit``) and the access log, as one ASGI middleware.

Per call, before the response starts (so no answer leaves without its audit row): time, key id,
account, method, route *template* (``/api/patients/{patient_id}``, never the path or its query
string), status, duration, the patient ids read or written and the counts the handler recorded in
``request.state.audit``. The same facts, never a value, go to the log (``include.api.access``); the
uvicorn access log is off because it prints query strings (``?email=...``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio
import sqlalchemy as sa
from starlette.routing import Match

from include.api.limits import ASGIApp, Message, Scope

log = logging.getLogger("include.api.access")

#: Patient ids written into one log line (the audit row keeps them all).
LOG_IDS = 20


@dataclass
class CallAudit:
    """What a handler did, filled in by the auth dependency and the handler."""

    key_id: str | None = None
    account_id: str | None = None
    patient_ids: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    file_id: int | None = None
    started: float = field(default_factory=time.monotonic)
    #: the handler wrote the audit row itself, in its own transaction (the single create): only log it
    written: bool = False


def call_audit(scope: Scope) -> CallAudit:
    state = scope.setdefault("state", {})
    audit = state.get("audit")
    if audit is None:
        audit = state["audit"] = CallAudit()
    return audit


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    if route is None:
        app = scope.get("app")
        for candidate in getattr(getattr(app, "router", None), "routes", ()):
            match, _ = candidate.matches(scope)
            if match == Match.FULL:
                route = candidate
                break
    return getattr(route, "path", None) or "(no route)"


AUDIT_SQL = sa.text(
    "INSERT INTO patient_pipeline.api_audit (key_id, account_id, method, route, status, duration_ms, "
    "patient_ids, counts, file_id) VALUES (:key_id, :account_id, :method, :route, :status, :duration_ms, "
    ":patient_ids, CAST(:counts AS jsonb), :file_id)")


class AuditMiddleware:
    def __init__(self, app: ASGIApp, engine_getter: Callable[[], sa.Engine]) -> None:
        self.app, self.engine_getter = app, engine_getter

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        audit = call_audit(scope)
        recorded = False

        async def record(status: int) -> None:
            nonlocal recorded
            if recorded:
                return
            recorded = True
            if audit.written:  # the handler committed the audit row with its write: only the log line
                self._log(scope, audit, status, started)
            else:
                await anyio.to_thread.run_sync(self._write, scope, audit, status, started)

        async def audited_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                await record(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, audited_send)
        except BaseException:
            await record(500)
            raise

    @staticmethod
    def _log(scope: Scope, audit: CallAudit, status: int, started: float) -> tuple[str, list[str], int]:
        ms = int((time.monotonic() - started) * 1000)
        route = route_template(scope)
        ids = sorted(set(audit.patient_ids))
        shown = ", ".join(ids[:LOG_IDS]) + (f" (+{len(ids) - LOG_IDS} more)" if len(ids) > LOG_IDS else "")
        log.info("%s %s %s key=%s account=%s counts=%s patients=[%s] file=%s %dms", scope["method"], route, status,
                 audit.key_id or "-", audit.account_id or "-", json.dumps(audit.counts, sort_keys=True), shown,
                 audit.file_id if audit.file_id is not None else "-", ms)
        return route, ids, ms

    def _write(self, scope: Scope, audit: CallAudit, status: int, started: float) -> None:
        route, ids, ms = self._log(scope, audit, status, started)
        try:
            with self.engine_getter().begin() as conn:
                conn.execute(AUDIT_SQL, {"key_id": audit.key_id, "account_id": audit.account_id,
                                         "method": scope["method"], "route": route, "status": status,
                                         "duration_ms": ms, "patient_ids": ids, "counts": json.dumps(audit.counts),
                                         "file_id": audit.file_id})
        except sa.exc.SQLAlchemyError as exc:
            log.error("audit row not written for %s %s %s: %s", scope["method"], route, status, type(exc).__name__)
