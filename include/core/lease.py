"""One writer at a time: the lease shared by every pipeline DAG, the stewardship CLI and the review page.

A DAG run takes the lease in its first task and releases it in its last (a teardown, see
``include/core/run_lifecycle.py``); every writing task in between checks that its run still holds it
(and extends it). Taking and checking the lease happens under the pipeline's transaction-level advisory
lock, so two runs can never both win. An expired lease (its run died without releasing) can be taken
over; ``ttl`` bounds that. The ``*_on`` forms take an engine and open their own connection.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa

from include.core import pipeline_schema, settings
from include.core.errors import GenascopeError
from include.core.locks import PipelineBusy

log = logging.getLogger(__name__)

LEASE = "patient_tables"
DEFAULT_TTL_S = 6 * 3600


class LeaseLost(GenascopeError, RuntimeError):
    """This run no longer holds the pipeline lease (it expired and another run took it)."""


@dataclass(frozen=True)
class Holder:
    dag_id: str
    run_id: str
    expires_in_s: float


def _xact_lock(conn: sa.Connection) -> None:
    conn.exec_driver_sql(
        f"SELECT pg_advisory_xact_lock({settings.ADVISORY_LOCK_CLASS}, {settings.ADVISORY_LOCK_OBJECT})"
    )


def holder(conn: sa.Connection) -> Holder | None:
    row = conn.execute(sa.text(
        "SELECT holder_dag_id, holder_run_id, extract(epoch FROM expires_at - (now() AT TIME ZONE 'utc')) "
        "FROM patient_pipeline.pipeline_lease WHERE name = :n"), {"n": LEASE}).first()
    return Holder(row[0], row[1], float(row[2])) if row else None


def _try_take(conn: sa.Connection, dag_id: str, run_id: str, ttl_s: int) -> Holder | None:
    """Take the lease if free, expired or already ours. Returns the other holder when it is not."""
    with conn.begin():
        _xact_lock(conn)
        current = holder(conn)
        if current and current.run_id != run_id and current.expires_in_s > 0:
            return current
        if current and current.run_id != run_id:
            log.warning("taking over an expired lease of dag %s run %s", current.dag_id, current.run_id)
        conn.execute(sa.text(
            """
            INSERT INTO patient_pipeline.pipeline_lease (name, holder_dag_id, holder_run_id, expires_at)
            VALUES (:n, :d, :r, (now() AT TIME ZONE 'utc') + make_interval(secs => :ttl))
            ON CONFLICT (name) DO UPDATE SET holder_dag_id = excluded.holder_dag_id,
                holder_run_id = excluded.holder_run_id, heartbeat_at = excluded.heartbeat_at,
                expires_at = excluded.expires_at,
                acquired_at = CASE WHEN patient_pipeline.pipeline_lease.holder_run_id = excluded.holder_run_id
                                   THEN patient_pipeline.pipeline_lease.acquired_at ELSE excluded.acquired_at END
            """), {"n": LEASE, "d": dag_id, "r": run_id, "ttl": ttl_s})
    return None


def acquire(conn: sa.Connection, dag_id: str, run_id: str, *, wait_s: float = 0, poll_s: float = 5.0,
            ttl_s: int = DEFAULT_TTL_S) -> None:
    """Take the lease for ``run_id``, waiting up to ``wait_s``; raise PipelineBusy naming the holder."""
    pipeline_schema.ensure(conn)
    deadline = time.monotonic() + wait_s
    while True:
        other = _try_take(conn, dag_id, run_id, ttl_s)
        if other is None:
            log.info("pipeline lease taken by %s / %s", dag_id, run_id)
            return
        if time.monotonic() >= deadline:
            raise PipelineBusy(
                f"{dag_id}: the patient tables are in use by DAG {other.dag_id} run {other.run_id} "
                f"(lease expires in {max(other.expires_in_s, 0):.0f}s); waited {wait_s:.0f}s. "
                "Let that run finish (or fail), then trigger this one again."
            )
        time.sleep(poll_s)


def check(conn: sa.Connection, dag_id: str, run_id: str, *, ttl_s: int = DEFAULT_TTL_S) -> None:
    """At the start of every writing task: this run must hold the lease; extends it."""
    with conn.begin():
        _xact_lock(conn)
        current = holder(conn)
        if current is None or current.run_id != run_id or current.expires_in_s <= 0:
            raise LeaseLost(
                f"{dag_id} run {run_id} does not hold the pipeline lease "
                f"(holder: {current.dag_id + ' / ' + current.run_id if current else 'nobody'}); "
                "re-trigger the run from its first task."
            )
        conn.execute(sa.text(
            "UPDATE patient_pipeline.pipeline_lease SET heartbeat_at = now() AT TIME ZONE 'utc', "
            "expires_at = (now() AT TIME ZONE 'utc') + make_interval(secs => :ttl) WHERE name = :n"),
            {"n": LEASE, "ttl": ttl_s})


def release(conn: sa.Connection, run_id: str) -> bool:
    """Release the lease if this run holds it (idempotent). Returns whether it was held."""
    pipeline_schema.ensure(conn)
    with conn.begin():
        _xact_lock(conn)
        deleted = conn.execute(sa.text(
            "DELETE FROM patient_pipeline.pipeline_lease WHERE name = :n AND holder_run_id = :r"),
            {"n": LEASE, "r": run_id}).rowcount
    return bool(deleted)


# ---------------------------------------------------------------- on an engine (one connection per call)
def acquire_on(engine: sa.Engine, dag_id: str, run_id: str, *, wait_s: float = 0, poll_s: float = 5.0) -> None:
    """:func:`acquire` on a connection of its own."""
    with engine.connect() as conn:
        acquire(conn, dag_id, run_id, wait_s=wait_s, poll_s=poll_s)


def check_on(engine: sa.Engine, dag_id: str, run_id: str) -> None:
    """:func:`check` on a connection of its own (raises LeaseLost when this run no longer holds it)."""
    with engine.connect() as conn:
        check(conn, dag_id, run_id)


def release_on(engine: sa.Engine, run_id: str) -> bool:
    """:func:`release` on a connection of its own."""
    with engine.connect() as conn:
        return release(conn, run_id)


@contextmanager
def held(engine: sa.Engine, holder_name: str, run_id: str, *, wait_s: float = 0) -> Iterator[None]:
    """The lease around one command outside Airflow (the stewardship CLI, the review page): taken on entry
    (PipelineBusy after ``wait_s``), released on exit whatever happened."""
    acquire_on(engine, holder_name, run_id, wait_s=wait_s)
    try:
        yield
    finally:
        release_on(engine, run_id)
