"""``application/problem+json`` (RFC 9457) for every error the API answers.

A problem has a stable ``code`` (the import's reason codes for data problems: ``invalid_email``,
``missing_first_name``, ``identity_conflict``, ...; API codes for the rest: ``unauthorized``,
``not_found``, ``rate_limited``, ``body_too_large``, ...) and a ``detail`` that says what to fix. No
message ever echoes a submitted value: request validation errors name the location (``body.3.email``)
and the kind of error only.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from include.core.errors import GenascopeError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

#: What to do about each reason code of the import (never a value; the field is named separately).
REASON_HELP = {
    "missing_first_name": "first_name is empty or a placeholder (N/A, UNKNOWN, ...); send the patient's first name",
    "missing_last_name": "last_name is empty or a placeholder; send the patient's last name",
    "missing_identifier": "send an external_id or a valid email: without one the patient could never be matched again",
    "invalid_email": "email is not a syntactically valid address; correct it or leave it out",
    "unparseable_phone": "phone is not a phone number of the default region; send it in E.164 (+15551234567)",
    "phone_leading_zero_stripped": "phone lost its leading zero (a spreadsheet export?); send it as text",
    "excel_scientific_notation": "phone is in scientific notation (a spreadsheet export); send it as text",
    "invalid_dob": "date_of_birth must be a real date in ISO form YYYY-MM-DD",
    "dob_in_future": "date_of_birth is after today",
    "dob_before_1900": "date_of_birth is before 1900-01-01",
    "field_too_long": "a value is longer than its column allows (names 100, email and external_id 255 characters)",
    "identity_conflict": ("external_id points to one patient while email + first_name point to another (or to a "
                          "patient with another external_id); resolve which patient this is before sending it"),
    "conflicting_duplicate": "another row of this call claims the same identity with other values; send one of them",
    "nul_byte": "a value contains a NUL character",
}


class Problem(GenascopeError):
    """An error answered as problem+json: HTTP status, stable code, PHI-free detail, optional extras."""

    def __init__(self, status: int, code: str, detail: str, *, title: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(f"{status} {code}")
        self.status, self.code, self.detail = status, code, detail
        self.title = title or code.replace("_", " ")
        self.headers = headers or {}
        self.extra = extra


def problem_response(status: int, code: str, detail: str, *, title: str | None = None,
                     headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = {"type": f"https://genascope.example/problems/{code}", "title": title or code.replace("_", " "),
            "status": status, "code": code, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def not_found(what: str = "patient") -> Problem:
    return Problem(404, "not_found", f"no {what} with this id in the key's account")


def _validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        out.append({"field": loc, "code": str(err.get("type", "invalid"))})  # never err["input"] / err["msg"]
    return out


def install(app: FastAPI) -> None:
    """Register the problem+json handlers on ``app`` (the API's own app, or a host app mounting the router)."""

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.code, exc.detail, title=exc.title, headers=exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        return problem_response(422, "invalid_request",
                                "the request does not match the schema (see errors: field and kind; see /docs)",
                                errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) and exc.status_code != 404 else "no such resource"
        return problem_response(exc.status_code, code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(sa.exc.OperationalError)
    @app.exception_handler(psycopg.OperationalError)  # the single create's sessions (include.api.async_sessions)
    async def _database(_: Request, exc: Exception) -> JSONResponse:
        orig = getattr(exc, "orig", exc)
        sqlstate = getattr(orig, "sqlstate", None)
        if sqlstate == "57014":  # statement_timeout
            return problem_response(503, "timeout", "the database work took longer than the API's statement "
                                    "timeout; retry, or send fewer rows per call", headers={"Retry-After": "5"})
        if sqlstate == "55P03":  # lock_timeout
            return problem_response(503, "account_busy", "another write of the same patient held its lock longer "
                                    "than the API's lock timeout; retry later", headers={"Retry-After": "30"})
        log.error("database error SQLSTATE %s (%s)", sqlstate or "unknown", type(orig).__name__)
        return problem_response(503, "database_unavailable", "the database is not reachable or failed; retry later",
                                headers={"Retry-After": "5"})

    @app.exception_handler(sa.exc.DataError)
    @app.exception_handler(psycopg.DataError)
    async def _data(_: Request, exc: Exception) -> JSONResponse:
        # a value the database cannot take as given (a NUL character, a character the encoding cannot hold:
        # SQLSTATE class 22): the client's input, not a server failure
        orig = getattr(exc, "orig", exc)
        log.info("data error SQLSTATE %s (%s)", getattr(orig, "sqlstate", None) or "none", type(orig).__name__)
        return problem_response(422, "invalid_value", "a value of the request cannot be stored or compared "
                                "(e.g. it holds a NUL character)")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error %s (no details logged: they may hold values)", type(exc).__name__)
        return problem_response(500, "internal_error", "the server failed; nothing of this call was merged")
