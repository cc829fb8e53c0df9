"""Limits: request body size (413, checked while the body streams in) and a per-key rate (429).

``BodySizeLimit`` is an ASGI middleware: a ``Content-Length`` above the limit is answered 413 before
anything is read; a body without one (chunked) is counted while it is received and cut off at the limit.
The upload route has its own, larger limit. The rate limit is a token bucket per key id
(``rate_per_minute`` refill, ``burst`` capacity): ``SharedRateLimiter`` keeps it in the database
(``patient_pipeline.api_rate_bucket``, one statement per call), so every API process and host shares one
bucket per key (the default); ``RateLimiter`` keeps it in this process (``GENASCOPE_API_RATE_LIMIT_BACKEND=
memory``: a single-process deployment only, ``--workers 4`` would give every key four times its limit).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import HTTPException

from include.api.errors import Problem, problem_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

UPLOAD_SUFFIX = "/import-csv"


class BodyTooLarge(HTTPException):
    """Raised while the body streams in (an HTTPException, so FastAPI's body parsing passes it through)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(413, body_too_large_detail(limit))


def body_too_large_detail(limit: int) -> str:
    return f"the request body is larger than the limit of {limit} bytes; send fewer rows per call (or a smaller file)"


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app, self.max_body, self.max_upload = app, max_body_bytes, max_upload_bytes

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_upload if scope["path"].endswith(UPLOAD_SUFFIX) else self.max_body
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared > limit:
                response = problem_response(413, "body_too_large", body_too_large_detail(limit), limit_bytes=limit)
                await response(scope, receive, send)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)


class RateLimiter:
    """Token bucket per key: ``take(key)`` returns 0 when the call may proceed, else seconds to wait."""

    def __init__(self, per_minute: int, burst: int) -> None:
        self.rate = max(per_minute, 1) / 60.0
        self.burst = max(burst, 1)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate


class SharedRateLimiter:
    """The token bucket of every key in the database, shared by all API processes (see the module docstring).
    A database error answers "proceed" (the limiter never takes the API down with it) and is logged once."""

    def __init__(self, per_minute: int, burst: int, engine_getter: Callable[[], Any]) -> None:
        self.rate = max(per_minute, 1) / 60.0
        self.burst = max(burst, 1)
        self.engine_getter = engine_getter

    def take(self, key: str) -> float:
        import sqlalchemy as sa

        try:
            with self.engine_getter().connect() as conn:
                wait = conn.execute(sa.text("SELECT patient_pipeline.api_rate_take(:k, :r, :b)"),
                                    {"k": key, "r": self.rate, "b": float(self.burst)}).scalar_one()
                conn.commit()
            return float(wait)
        except sa.exc.DBAPIError as exc:
            import logging

            logging.getLogger(__name__).warning("rate limit not checked: database error SQLSTATE %s",
                                                getattr(exc.orig, "sqlstate", None) or "unknown")
            return 0.0


def rate_limited(wait_s: float) -> Problem:
    retry = max(1, math.ceil(wait_s))
    return Problem(429, "rate_limited", f"too many calls for this key; retry after {retry} s",
                   headers={"Retry-After": str(retry)}, retry_after_s=retry)
