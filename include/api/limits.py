"""Limits: request body size (413, checked while the body streams in) and a per-key rate (429).

``BodySizeLimit`` is an ASGI middleware: a ``Content-Length`` above the limit is answered 413 before
anything is read; a body without one (chunked) is counted while it is received and cut off at the limit.
The upload route has its own, larger limit. The rate limit is a token bucket per key id
(``rate_per_minute`` refill, ``burst`` capacity): ``SharedRateLimiter`` keeps it in the database
(``patient_pipeline.api_rate_bucket``, one statement per small lease of tokens), so every API process and
host shares one bucket per key (the default); ``RateLimiter`` keeps it in this process (``GENASCOPE_API_RATE_LIMIT_BACKEND=
memory``: a single-process deployment only, ``--workers 4`` would give every key four times its limit).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException

from include.api.errors import Problem, problem_response
from include.core.errors import GenascopeError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

UPLOAD_SUFFIX = "/import-csv"


class BodyTooLarge(GenascopeError, HTTPException):
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

    def take_local(self, key: str) -> float:
        return self.take(key)

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

    A key called often is served from small leases: one statement (``patient_pipeline.api_rate_lease``) takes
    up to ``lease_max`` tokens at once and this process hands them out for at most ``lease_seconds``; what is
    left is given back with the next lease. A lease starts at one token and doubles while the process uses
    its whole lease within the window (a slow caller takes one token per call, as before), so the database
    is asked about once per ``lease_max`` calls of a busy key instead of once per call. Tokens are only ever
    taken from the shared bucket, so all processes together never admit more than the limit; a process may
    hold up to ``lease_max`` tokens another process then waits for (at most ``lease_seconds``).
    A database error answers "proceed" (the limiter never takes the API down with it) and is logged."""

    def __init__(self, per_minute: int, burst: int, engine_getter: Callable[[], Any], *,
                 lease_max: int = 16, lease_seconds: float = 1.0) -> None:
        self.rate = max(per_minute, 1) / 60.0
        self.burst = max(burst, 1)
        self.engine_getter = engine_getter
        # a lease never exceeds a tenth of the burst: with a small burst every call asks the database
        self.lease_max = max(1, min(lease_max, self.burst // 10))
        self.lease_seconds = lease_seconds
        self._leases: dict[str, _Lease] = {}
        self._lock = threading.Lock()

    def take_local(self, key: str) -> float | None:
        """0 when this process's lease of ``key`` covers the call (no database), None when ``take`` must ask."""
        with self._lock:
            lease = self._leases.get(key)
            if lease is not None and lease.left > 0 and time.monotonic() < lease.expires:
                lease.left -= 1
                return 0.0
        return None

    def take(self, key: str) -> float:
        local = self.take_local(key)
        if local is not None:
            return local
        now = time.monotonic()
        with self._lock:
            lease = self._leases.setdefault(key, _Lease())
            # renew: grow the lease when the last one was used up within its window (calls that arrive while
            # another renewal is on its way grow it too), else start again at one token; an expired lease's
            # leftovers go back to the bucket
            used_up = now < lease.expires
            want = min(self.lease_max, lease.size * 2) if used_up else 1
            give_back, lease.left = lease.left, 0
        granted, wait = self._lease(key, want, give_back)
        with self._lock:
            if granted >= 1:  # added: another thread of this process may have renewed meanwhile
                lease.size, lease.left = granted, lease.left + granted - 1
                lease.expires = time.monotonic() + self.lease_seconds
        return 0.0 if granted >= 1 else wait

    def _lease(self, key: str, want: int, give_back: int) -> tuple[int, float]:
        import sqlalchemy as sa

        try:
            with self.engine_getter().connect() as conn:
                row = conn.execute(sa.text("SELECT granted, wait_s FROM patient_pipeline.api_rate_lease("
                                           ":k, :r, :b, :w, :g)"),
                                   {"k": key, "r": self.rate, "b": float(self.burst), "w": want,
                                    "g": give_back}).one()
                conn.commit()
            return int(row.granted), float(row.wait_s)
        except sa.exc.DBAPIError as exc:
            import logging

            logging.getLogger(__name__).warning("rate limit not checked: database error SQLSTATE %s",
                                                getattr(exc.orig, "sqlstate", None) or "unknown")
            return 1, 0.0


@dataclass
class _Lease:
    size: int = 1
    left: int = 0
    expires: float = 0.0


def rate_limited(wait_s: float) -> Problem:
    retry = max(1, math.ceil(wait_s))
    return Problem(429, "rate_limited", f"too many calls for this key; retry after {retry} s",
                   headers={"Retry-After": str(retry)}, retry_after_s=retry)
