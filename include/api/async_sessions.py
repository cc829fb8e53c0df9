"""A small pool of asynchronous psycopg sessions for the one-statement calls on the request's event loop.

The single create is one statement (``patient_pipeline.api_create_one``): run through SQLAlchemy in the thread
pool it paid a thread hop, the pool's checkout and the ORM layer's statement handling on every call, CPU that
16 concurrent clients on a small machine wait for. Here the statement runs on the event loop itself, on an
autocommit ``psycopg.AsyncConnection`` (psycopg prepares it on the server after a few calls). Sessions start
with the API's ``statement_timeout``, ``lock_timeout`` and application name, as the engine's do
(``include.api.database``); the connection string is the engine's (TLS extras included, failures restated
by ``include.core.db``).

Retried, because nothing of the call was written: a pooled session that turns out to be gone, a deadlock or
a serialization failure with another writer of the same person (the server rolled that call back).
Errors carry SQLSTATE and exception type only; a row value never reaches a log line from here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import psycopg

from include.core import db

RETRY_SQLSTATES = ("40P01", "40001")


class AsyncSessions:
    def __init__(self, conninfo: str, *, size: int, options: str, application_name: str, attempts: int = 3) -> None:
        self.conninfo, self.size, self.attempts = db.to_libpq_uri(conninfo), max(size, 1), attempts
        self.kwargs = {"autocommit": True, "options": options, "application_name": application_name}
        self._idle: list[psycopg.AsyncConnection] = []
        self._slots: asyncio.Semaphore | None = None  # made on first use, on the loop that serves the calls

    async def _connect(self) -> psycopg.AsyncConnection:
        try:
            return await psycopg.AsyncConnection.connect(self.conninfo, **self.kwargs)
        except psycopg.OperationalError as exc:
            restated = db.tls_error(exc, self.conninfo)
            if restated is None:
                raise
            raise restated from exc

    async def scalar(self, query: str, params: Mapping[str, Any]) -> Any:
        """The first column of the one row ``query`` answers, in autocommit (one transaction, one round trip)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        for attempt in range(1, self.attempts + 1):
            async with self._slots:
                conn = self._idle.pop() if self._idle else await self._connect()
                try:
                    cur = await conn.execute(query, params)
                    row = await cur.fetchone()
                except psycopg.OperationalError as exc:
                    retry = conn.closed or conn.broken or exc.sqlstate in RETRY_SQLSTATES
                    await self._release(conn)
                    if retry and attempt < self.attempts:
                        continue
                    raise
                except BaseException:
                    await self._release(conn)
                    raise
                await self._release(conn)
                return None if row is None else row[0]
        raise AssertionError("unreachable")  # pragma: no cover

    async def _release(self, conn: psycopg.AsyncConnection) -> None:
        usable = not (conn.closed or conn.broken) and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        if usable and len(self._idle) < self.size:
            self._idle.append(conn)
        else:
            await conn.close()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()
