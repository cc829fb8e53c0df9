"""The benchmark harness: which server, template databases and their per-trial copies, timing statistics.

Benchmarks run on the embedded PostgreSQL (``include.core.embedded_db.start_server``) unless a server URL is
given explicitly; never on the application database resolution (it may be production). Each data set is
generated once into a *template* database; every trial gets its own ``CREATE DATABASE ... TEMPLATE``
copy (identical data), dropped afterwards. Times are only compared with times measured in the same run.

Prints counts and seconds only (never row contents).
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg
import sqlalchemy as sa

from include.core import db, embedded_db
from include.core.errors import GenascopeError

#: Invites (backfill) and clinic CSV rows (import) per size label.
SIZES: dict[str, int] = {"S": 10_000, "M": 100_000, "L": 1_000_000}
DB_PREFIX = "gs_bench"
#: Templates bigger than this are copied with STRATEGY FILE_COPY (one checkpoint instead of WAL for every page).
FILE_COPY_ABOVE_BYTES = 512 * 2**20


class BenchSetupError(GenascopeError, RuntimeError):
    """The benchmark could not prepare its server or databases; the message says what to check."""


def say(message: str) -> None:
    """Progress line (counts and seconds only)."""
    print(f"[bench {datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass(frozen=True)
class Server:
    """The PostgreSQL server the benchmark runs on."""

    admin_uri: str
    kind: str  # "embedded" or "explicit"
    version: str
    version_num: int

    def uri(self, dbname: str) -> str:
        return db.with_database(self.admin_uri, dbname)

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.admin_uri, autocommit=True, application_name="genascope_bench")


def connect_server(server_url: str | None = None) -> Server:
    """The explicit ``server_url`` (admin URI of a server where databases may be created), else the embedded one."""
    if server_url:
        admin, kind = db.to_libpq_uri(server_url), "explicit"
    else:
        admin, kind = embedded_db.start_server(), "embedded"
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            num = int(conn.execute("SHOW server_version_num").fetchone()[0])
    except psycopg.OperationalError as exc:
        raise BenchSetupError(f"cannot connect to the {kind} benchmark server ({type(exc).__name__}); "
                              "check --server-url or run `make db-stop` and retry") from None
    return Server(admin, kind, version.split(" ")[0], num)


def run_in_child(target: Callable[..., None], args: tuple, *, name: str, timeout_s: float = 3600) -> dict:
    """Run ``target(queue, *args)`` in a spawned child process (its peak RSS is its own) and return the one
    message it puts on the queue; the child is joined, and killed if it does not end."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    child = ctx.Process(target=target, name=name, args=(out, *args))
    child.start()
    try:
        return out.get(timeout=timeout_s)
    finally:
        child.join(timeout=60)
        if child.is_alive():
            child.kill()


def engine_for(uri: str) -> sa.Engine:
    """A private engine (not the app's cached one), so a database can be dropped or copied after dispose()."""
    return db.create_engine(uri, pool_pre_ping=False)


def create_database(server: Server, name: str, template: str | None = None) -> str:
    with server.admin() as conn:
        strategy = ""
        if template and server.version_num >= 150000:  # large templates: copy files, not WAL (PG 15+)
            size = conn.execute("SELECT pg_database_size(%s)", (template,)).fetchone()[0]
            strategy = " STRATEGY FILE_COPY" if size > FILE_COPY_ABOVE_BYTES else ""
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if template:  # a copy needs the template without sessions (leftover pooled connections)
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid()", (template,))
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"{strategy}' if template else ""))
    return server.uri(name)


def drop_database(server: Server, name: str) -> None:
    with server.admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def unique_name(label: str) -> str:
    return f"{DB_PREFIX}_{label}_{uuid.uuid4().hex[:8]}".lower()


@contextmanager
def database_copy(server: Server, template: str, label: str) -> Iterator[str]:
    """A fresh copy of ``template`` for one trial (URI), dropped afterwards."""
    name = unique_name(label)
    uri = create_database(server, name, template)
    try:
        yield uri
    finally:
        drop_database(server, name)


def vacuum_analyze(uri: str) -> None:
    """Templates get statistics once, so every copy starts with the same planner view."""
    with psycopg.connect(db.to_libpq_uri(uri), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


# ------------------------------------------------------------------------------------------ statistics


@dataclass
class Timing:
    """Repeats of one path: rows and seconds per repeat; the median rows/s is what is reported."""

    path: str
    size: str
    rows: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    extra: dict[str, object] = field(default_factory=dict)

    def add(self, rows: int, seconds: float) -> None:
        self.rows.append(int(rows))
        self.seconds.append(float(seconds))

    @property
    def rows_per_s(self) -> float:
        rates = [r / s for r, s in zip(self.rows, self.seconds, strict=True) if s > 0]
        return statistics.median(rates) if rates else 0.0

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds) if self.seconds else 0.0

    @property
    def median_rows(self) -> int:
        return int(statistics.median(self.rows)) if self.rows else 0

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "size": self.size, "rows": self.rows, "seconds": [round(s, 3) for s in self.seconds],
                "rows_per_s": round(self.rows_per_s, 1), "extra": self.extra}


def ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


@dataclass
class Bar:
    """One bar of BENCHMARKS.md: what is compared, the measured value, the threshold, pass or fail.

    ``barred=False``: a ratio the spec asks to report, not to bar (``threshold`` then says what it is
    compared with, and ``passed`` is always True).
    """

    name: str
    measured: str
    threshold: str
    passed: bool
    barred: bool = True


def reported(name: str, measured: str, note: str = "reported, not barred") -> Bar:
    """A ratio the spec reports without a bar."""
    return Bar(name, measured, note, True, barred=False)


@dataclass
class Machine:
    cores: int
    memory_gib: float
    python: str
    platform: str

    @classmethod
    def current(cls) -> Machine:
        try:
            import psutil

            mem = psutil.virtual_memory().total / 2**30
        except ImportError:  # pragma: no cover - psutil is pinned
            mem = 0.0
        return cls(os.cpu_count() or 0, round(mem, 1), platform.python_version(), platform.platform(terse=True))


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started
