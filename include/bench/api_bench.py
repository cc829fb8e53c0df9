"""The intake API benchmark of BENCHMARKS.md ("API"): bulk vs the file import, single creates vs a bare INSERT.

One fresh database (at 20250529_update_patients) with four empty accounts, the same generated rows for the
file and for the API:

- **file**: the rows as a platform-header CSV through ``include.imports.file_import.import_file`` (the nightly
  import's task body, with its GX gate), in this process;
- **bulk**: the same rows through a real API server (``python -m include.api`` in a subprocess, httpx),
  ``per_call`` rows per ``POST /api/patients/bulk`` (10,000, the limit);
- **single**: ``clients`` concurrent clients (threads, one httpx client each) creating new patients with
  ``POST /api/patients``, latency per call;
- **insert**: the same number of concurrent sessions doing a bare parameterized ``INSERT INTO patients``
  (autocommit), latency per round trip: the floor a create cannot go below;
- **during import**: one client creating a new patient every ``probe_interval_s`` with ``POST /api/patients``,
  first while nothing else runs (idle), then while a ``during_rows``-row CSV of the **same account** is imported
  by ``pipeline.import_file`` in a child process: latency and failed calls of both phases.

Bars: bulk rows/s >= 0.5 x file rows/s; single create p50 and p99 <= 5 x the bare INSERT's at ``clients``
clients; during the import p99 <= 3 x the idle p99 and no failed call. Prints counts and seconds only.
"""

from __future__ import annotations

import csv
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import sqlalchemy as sa

from include.bench.harness import Bar, Server, Timing, create_database, drop_database, engine_for, say, unique_name
from include.core import alembic_driver, db, pipeline_schema, settings

ACCOUNTS = {"file": "acct-bench-file", "bulk": "acct-bench-bulk", "single": "acct-bench-single",
            "insert": "acct-bench-insert", "during": "acct-bench-during"}
FIELDS = ("email", "first_name", "last_name", "phone", "external_id", "date_of_birth")
BAR_RATIO = 0.5
SINGLE_BAR = 5.0
DURING_BAR = 3.0


@dataclass
class ApiConfig:
    rows: int = 50_000  # rows of the file, and of the bulk calls
    per_call: int = 10_000
    clients: int = 16
    singles_per_client: int = 100
    single_rounds: int = 3  # create and bare-INSERT rounds side by side; the bars take the median round ratio
    seed: int = 42
    during_rows: int = 1_000_000  # the import that runs while the probe client creates patients
    probe_interval_s: float = 0.05
    idle_probe_s: float = 20.0
    workers: int = 2  # API worker processes (uvicorn --workers; the rate limit is shared in the database)


@dataclass
class Latencies:
    calls: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    seconds: float

    @classmethod
    def of(cls, ms: list[float], seconds: float) -> Latencies:
        s = sorted(ms)
        pick = (lambda q: s[min(len(s) - 1, int(round(q * (len(s) - 1))))]) if s else (lambda q: 0.0)
        return cls(len(s), pick(0.50), pick(0.99), s[-1] if s else 0.0, seconds)


@dataclass
class ApiBench:
    postgres: str
    config: ApiConfig
    file: Timing = field(default_factory=lambda: Timing("file import P", "-"))
    bulk: Timing = field(default_factory=lambda: Timing("API bulk", "-"))
    single: Latencies | None = None
    insert: Latencies | None = None
    #: (single create, bare INSERT) of each round; ``single``/``insert`` are the round of the median p50 ratio
    rounds: list[tuple[Latencies, Latencies]] = field(default_factory=list)
    idle: Latencies | None = None
    during: Latencies | None = None
    during_failures: int = 0
    during_import_s: float = 0.0
    during_load: list[float] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    bars: list[Bar] = field(default_factory=list)
    load: list[float] = field(default_factory=list)  # 1-minute load average at the start and at the end

    def as_dict(self) -> dict[str, object]:
        return {"load": self.load, "file": self.file.as_dict(), "bulk": self.bulk.as_dict(), "single": self.single.__dict__,
                "insert": self.insert.__dict__,
                "rounds": [[a.__dict__, b.__dict__] for a, b in self.rounds], "idle": self.idle.__dict__ if self.idle else None,
                "during": self.during.__dict__ if self.during else None, "during_failures": self.during_failures,
                "during_import_s": self.during_import_s, "during_load": self.during_load,
                "counts": self.counts, "config": self.config.__dict__, "bars": [b.__dict__ for b in self.bars]}


def rows_for(n: int, tag: str, start: int = 0) -> list[dict[str, str]]:
    """Distinct, valid patients (names, e-mails, phones and DOBs in the shapes clinics send)."""
    return [{"email": f"{tag}.{i:07d}@example.org", "first_name": f"Fn{i:07d}", "last_name": f"Ln{i % 5000:04d}",
             "phone": f"(202) 555-{i % 10000:04d}", "external_id": f"{tag.upper()}-{i:07d}",
             "date_of_birth": f"{1930 + i % 70}-{1 + i % 12:02d}-{1 + i % 28:02d}"} for i in range(start, start + n)]


def _prepare(server: Server) -> tuple[str, str]:
    name = unique_name("api")
    uri = create_database(server, name)
    engine = engine_for(uri)
    try:
        with engine.connect() as conn:
            alembic_driver.upgrade(conn, settings.REV_UPDATE_PATIENTS)
            pipeline_schema.ensure(conn)
        with engine.begin() as conn:
            for acct in ACCOUNTS.values():
                conn.execute(sa.text("INSERT INTO accounts (id, name) VALUES (:i, 'bench')"), {"i": acct})
    finally:
        engine.dispose()
    return name, uri


def _file_import(uri: str, rows: list[dict[str, str]], work: Path, out: ApiBench) -> None:
    from include.imports import file_import
    from include.imports.sources import source_from_dict

    landing = work / "landing" / "bench"
    (landing / "incoming").mkdir(parents=True)
    path = landing / "incoming" / "bench.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    source = source_from_dict({"id": "bench-api-file", "account_id": ACCOUNTS["file"], "format": "csv",
                               "landing": str(landing), "date_formats": ["%Y-%m-%d"], "max_reject_ratio": 1.0})
    engine = engine_for(uri)
    old_runs = settings.RUNS_DIR
    settings.RUNS_DIR = work / "runs"
    try:
        t0 = time.perf_counter()
        result = file_import.import_file(engine, source, str(path), run_id="bench-api-file")
        out.file.add(result.rows_read, time.perf_counter() - t0)
    finally:
        settings.RUNS_DIR = old_runs
        engine.dispose()
    out.counts["file"] = {k: getattr(result, k) for k in ("rows_read", "inserted", "updated", "unchanged",
                                                           "duplicates", "quarantined")}
    say(f"api bench: file import of {result.rows_read:,} rows in {out.file.seconds[-1]:.2f}s")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _ApiServer:
    def __init__(self, uri: str, log_path: Path, pool_size: int, workers: int = 1) -> None:
        self.port = _free_port()
        env = {**os.environ, db.ENV_CONN: uri, "PYTHONPATH": str(settings.PROJECT_ROOT),
               "GENASCOPE_API_RATE_PER_MINUTE": "1000000", "GENASCOPE_API_RATE_BURST": "1000000",
               "GENASCOPE_API_POOL_SIZE": str(pool_size), "GENASCOPE_API_MAX_BODY_BYTES": str(64 * 2**20)}
        self.log = log_path.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "include.api", "--port", str(self.port),
                                      "--workers", str(workers)], env=env,
                                     cwd=settings.PROJECT_ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the API server exited; see {log_path}")
            try:
                if httpx.get(self.base + "/openapi.json", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API server did not start; see {log_path}")
            time.sleep(0.3)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def _keys(uri: str) -> dict[str, str]:
    from include.api import keys

    engine = engine_for(uri)
    try:
        with engine.connect() as conn:
            return {k: keys.create(conn, acct, f"bench {k}").token for k, acct in ACCOUNTS.items()}
    finally:
        engine.dispose()


def _bulk(base: str, token: str, rows: list[dict[str, str]], per_call: int, out: ApiBench) -> None:
    totals: dict[str, int] = {}
    with httpx.Client(base_url=base, timeout=600, headers={"Authorization": f"Bearer {token}"}) as client:
        t0 = time.perf_counter()
        for start in range(0, len(rows), per_call):
            r = client.post("/api/patients/bulk", json=rows[start:start + per_call])
            r.raise_for_status()
            for k, v in r.json()["counts"].items():
                totals[k] = totals.get(k, 0) + int(v)
        out.bulk.add(len(rows), time.perf_counter() - t0)
    out.counts["bulk"] = totals
    say(f"api bench: bulk of {len(rows):,} rows ({per_call:,} per call) in {out.bulk.seconds[-1]:.2f}s")


def _concurrent(clients: int, per_client: int, one_call) -> Latencies:
    lat: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    start = threading.Barrier(clients + 1)

    def worker(n: int) -> None:
        try:
            with one_call(n) as call:
                call(-1)  # warm-up, not timed: the connection (as the INSERT session's connect) and the caches
                start.wait()
                for i in range(per_client):
                    t0 = time.perf_counter()
                    call(i)
                    lat[n].append((time.perf_counter() - t0) * 1000)
        except Exception as exc:  # noqa: BLE001  (reported as a count; the bench fails below)
            errors.append(type(exc).__name__)
            start.abort()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} client(s) failed: {sorted(set(errors))}")
    return Latencies.of([x for xs in lat for x in xs], time.perf_counter() - t0)


class _ApiCaller:
    """One client of the single-create rounds: HTTP/1.1 keep-alive through the standard library's
    ``http.client``. The clients share the machine's cores with the server, so the harness's own CPU per call
    is part of what is measured: httpx spent ~0.8 ms of CPU per call here, seven times a psycopg round trip's
    (the bare INSERT sessions' client); ``http.client`` stays near the latter."""

    def __init__(self, base: str, token: str, tag: str) -> None:
        url = urlsplit(base)
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.tag = tag

    def __enter__(self):
        def call(i: int) -> None:
            body = json.dumps({"first_name": f"S{i}", "last_name": "Single", "external_id": f"{self.tag}-{i}"})
            self.conn.request("POST", "/api/patients", body.encode(), self.headers)
            r = self.conn.getresponse()
            r.read()
            if r.status != 201:
                raise RuntimeError(f"single create answered {r.status}")
        return call

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


class _InsertCaller:
    def __init__(self, uri: str, tag: str) -> None:
        self.conn = psycopg.connect(db.to_libpq_uri(uri), autocommit=True)
        self.tag = tag

    def __enter__(self):
        def call(i: int) -> None:
            self.conn.execute(
                "INSERT INTO patients (id, account_id, external_id, first_name, last_name, status, created_at, "
                "updated_at) VALUES (%s, %s, %s, %s, %s, 'pending', now(), now())",
                (str(uuid.uuid4()), ACCOUNTS["insert"], f"{self.tag}-{i}", f"S{i}", "Single"))
        return call

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


def _write_csv(path: Path, n: int, tag: str) -> None:
    """``n`` distinct valid rows as a platform-header CSV, written in blocks (memory does not grow with n)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        for start in range(0, n, 50_000):
            writer.writerows(rows_for(min(50_000, n - start), tag, start))


def _import_child(queue, uri: str, landing: str, path: str, runs: str) -> None:
    """The big import of the same account, in its own process (what the nightly DAG's task does)."""
    from include.core import settings as s
    from include.imports import file_import
    from include.imports.sources import source_from_dict

    s.RUNS_DIR = Path(runs)
    source = source_from_dict({"id": "bench-api-during", "account_id": ACCOUNTS["during"], "format": "csv",
                               "landing": landing, "date_formats": ["%Y-%m-%d"], "max_reject_ratio": 1.0})
    engine = engine_for(uri)
    t0 = time.perf_counter()
    try:
        result = file_import.import_file(engine, source, path, run_id="bench-api-during")
        queue.put({"status": result.status, "rows": result.rows_read, "inserted": result.inserted,
                   "seconds": time.perf_counter() - t0})
    except Exception as exc:  # noqa: BLE001  (type only: no values)
        queue.put({"status": "failed", "error": type(exc).__name__, "seconds": time.perf_counter() - t0})
    finally:
        engine.dispose()


class _Probe:
    """One client creating a new patient every ``interval`` seconds until stopped: latencies and failures."""

    def __init__(self, base: str, token: str, tag: str, interval: float) -> None:
        self.base, self.token, self.tag, self.interval = base, token, tag, interval
        self.ms: list[float] = []
        self.failures = 0
        self.stop = threading.Event()
        self.n = 0

    def run_for(self, seconds: float | None) -> Latencies:
        self.ms, self.failures = [], 0
        t_start = time.perf_counter()
        with httpx.Client(base_url=self.base, timeout=60, headers={"Authorization": f"Bearer {self.token}"}) as c:
            while not self.stop.is_set() and (seconds is None or time.perf_counter() - t_start < seconds):
                self.n += 1
                t0 = time.perf_counter()
                try:
                    r = c.post("/api/patients", json={"first_name": f"P{self.n}", "last_name": "Probe",
                                                      "email": f"{self.tag}.{self.n}@example.org",
                                                      "external_id": f"{self.tag}-{self.n}"})
                    ok = r.status_code == 201
                except httpx.HTTPError:
                    ok = False
                took = time.perf_counter() - t0
                self.ms.append(took * 1000)
                self.failures += 0 if ok else 1
                time.sleep(max(0.0, self.interval - took))
        return Latencies.of(self.ms, time.perf_counter() - t_start)


def _during_import(uri: str, api: _ApiServer, token: str, cfg: ApiConfig, work: Path, out: ApiBench) -> None:
    from include.bench.harness import run_in_child

    landing = work / "landing-during"
    (landing / "incoming").mkdir(parents=True)
    path = landing / "incoming" / "during.csv"
    _write_csv(path, cfg.during_rows, "during")
    probe = _Probe(api.base, token, "probe", cfg.probe_interval_s)
    out.idle = probe.run_for(cfg.idle_probe_s)
    say(f"api bench: idle probe {out.idle.calls} calls, p50 {out.idle.p50_ms:.1f} ms, p99 {out.idle.p99_ms:.1f} ms")
    result: dict = {}
    out.during_load.append(os.getloadavg()[0])

    def importer() -> None:
        result.update(run_in_child(_import_child, (uri, str(landing), str(path), str(work / "runs")),
                                   name="bench-api-during", timeout_s=7200))
        probe.stop.set()

    t = threading.Thread(target=importer)
    t.start()
    out.during = probe.run_for(None)
    t.join()
    out.during_load.append(os.getloadavg()[0])
    out.during_failures = probe.failures
    out.during_import_s = float(result.get("seconds", 0.0))
    out.counts["during_import"] = {k: v for k, v in result.items() if k in ("rows", "inserted")}
    if result.get("status") != "done":
        raise RuntimeError(f"the import during the probe ended {result.get('status')} ({result.get('error')})")
    say(f"api bench: during a {cfg.during_rows:,}-row import ({out.during_import_s:.0f}s): {out.during.calls} calls, "
        f"p50 {out.during.p50_ms:.1f} ms, p99 {out.during.p99_ms:.1f} ms, {out.during_failures} failed")


def run(server: Server, cfg: ApiConfig, work_dir: Path | None = None) -> ApiBench:
    out = ApiBench(server.version, cfg)
    out.load.append(os.getloadavg()[0])
    name, uri = _prepare(server)
    work = Path(work_dir or tempfile.mkdtemp(prefix="gs_api_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        rows = rows_for(cfg.rows, "bench")
        _file_import(uri, rows, work, out)
        tokens = _keys(uri)
        api = _ApiServer(uri, work / "api-server.log", pool_size=cfg.clients + 2, workers=cfg.workers)
        try:
            _bulk(api.base, tokens["bulk"], rows, cfg.per_call, out)
            for r in range(max(cfg.single_rounds, 1)):
                single = _concurrent(cfg.clients, cfg.singles_per_client,
                                     lambda n, r=r: _ApiCaller(api.base, tokens["single"], f"SINGLE-{r}-{n}"))
                insert = _concurrent(cfg.clients, cfg.singles_per_client,
                                     lambda n, r=r: _InsertCaller(uri, f"INSERT-{r}-{n}"))
                out.rounds.append((single, insert))
                say(f"api bench round {r + 1}: {single.calls} single creates / bare INSERTs from {cfg.clients} "
                    f"clients, p50 {single.p50_ms:.1f} / {insert.p50_ms:.1f} ms, p99 {single.p99_ms:.1f} / "
                    f"{insert.p99_ms:.1f} ms")
            out.single, out.insert = _median_round(out.rounds)
            if cfg.during_rows:
                _during_import(uri, api, tokens["during"], cfg, work, out)
        finally:
            api.stop()
    finally:
        drop_database(server, name)
    out.load.append(os.getloadavg()[0])
    if out.counts["bulk"].get("inserted") != cfg.rows or out.counts["file"].get("inserted") != cfg.rows:
        raise RuntimeError(f"the file and the bulk calls should each insert {cfg.rows} patients: {out.counts}")
    r = out.bulk.rows_per_s / out.file.rows_per_s if out.file.rows_per_s else 0.0
    out.bars = [Bar("API bulk / file import rows/s (same rows)",
                    f"{out.bulk.rows_per_s:,.0f} / {out.file.rows_per_s:,.0f} = {r:.2f}×", f"≥ {BAR_RATIO}×",
                    r >= BAR_RATIO)]
    for q in ("p50", "p99"):
        ratios = [_ratio(a, b, q) for a, b in out.rounds]
        ratio = statistics.median(ratios)
        out.bars.append(Bar(f"single create {q} / bare INSERT {q} ({cfg.clients} clients), median of "
                            f"{len(ratios)} rounds", f"{ratio:.1f}× (rounds " + ", ".join(f"{x:.1f}×" for x in ratios)
                            + ")", f"≤ {SINGLE_BAR:.0f}×", ratio <= SINGLE_BAR))
    if out.during is not None and out.idle is not None:
        ratio = out.during.p99_ms / out.idle.p99_ms if out.idle.p99_ms else float("inf")
        out.bars.append(Bar(f"single create p99 during a {cfg.during_rows:,}-row import of the account / idle p99",
                            f"{out.during.p99_ms:.1f} / {out.idle.p99_ms:.1f} ms = {ratio:.1f}×",
                            f"≤ {DURING_BAR:.0f}×", ratio <= DURING_BAR))
        out.bars.append(Bar("failed single creates during the import", f"{out.during_failures} of {out.during.calls}",
                            "0", out.during_failures == 0))
    return out


def _ratio(a: Latencies, b: Latencies, q: str) -> float:
    x, y = getattr(a, f"{q}_ms"), getattr(b, f"{q}_ms")
    return x / y if y else float("inf")


def _median_round(rounds: list[tuple[Latencies, Latencies]]) -> tuple[Latencies, Latencies]:
    ordered = sorted(rounds, key=lambda pair: _ratio(*pair, "p50"))
    return ordered[(len(ordered) - 1) // 2]


def render(api: ApiBench, command: str, when: str) -> list[str]:
    """The "## API" section of BENCHMARKS.md."""
    cfg = api.config
    lines = [
        "## API (patient intake, see docs/contracts/api.md)", "",
        f"- command: `{command}`; run {when}; PostgreSQL {api.postgres}; machine load "
        f"average {' → '.join(f'{x:.1f}' for x in api.load)} on {os.cpu_count()} cores (compare the paths with "
        "each other, measured side by side, not with the other sections' absolute numbers).",
        f"- the same {cfg.rows:,} generated rows (all new, valid) as a platform-header CSV through "
        "`pipeline.import_file` (the nightly import's task body, GX gate included) and through a real API server "
        f"(`python -m include.api --workers {cfg.workers}`; httpx for the bulk calls, the standard library's `http.client` with keep-alive for the single creates: see the note below) at {cfg.per_call:,} rows per "
        "`POST /api/patients/bulk`; then "
        f"{cfg.clients} concurrent clients creating {cfg.singles_per_client} new patients each with "
        "`POST /api/patients`, next to the same number of sessions doing a bare parameterized `INSERT INTO patients` "
        f"(autocommit) round trip, in {len(api.rounds)} rounds one after the other; each client and session makes "
        "one untimed call first (its connection, as the INSERT session's connect).", "",
        *_bar_lines(api.bars), "",
        "| path | rows | s | rows/s | counts |", "|---|---|---|---|---|",
        f"| file import P | {api.file.median_rows:,} | {api.file.median_seconds:.2f} | {api.file.rows_per_s:,.0f} | "
        + ", ".join(f"{k} {v}" for k, v in api.counts["file"].items()) + " |",
        f"| API bulk ({cfg.per_call:,}/call) | {api.bulk.median_rows:,} | {api.bulk.median_seconds:.2f} | "
        f"{api.bulk.rows_per_s:,.0f} | " + ", ".join(f"{k} {v}" for k, v in api.counts["bulk"].items()) + " |", "",
        f"| round | {cfg.clients} concurrent clients | calls | p50 ms | p99 ms | max ms | calls/s |",
        "|---|---|---|---|---|---|---|",
        *[line for n, (s, i) in enumerate(api.rounds, 1) for line in (
            f"| {n} | `POST /api/patients` (single create) | {s.calls} | {s.p50_ms:.1f} | {s.p99_ms:.1f} | "
            f"{s.max_ms:.0f} | {s.calls / s.seconds:,.0f} |",
            f"| {n} | bare parameterized `INSERT` round trip | {i.calls} | {i.p50_ms:.1f} | {i.p99_ms:.1f} | "
            f"{i.max_ms:.0f} | {i.calls / i.seconds:,.0f} |")], "",
        "A single create is one server-side function call in one transaction (`patient_pipeline.api_create_one`: "
        "ledger row, advisory locks of the identity keys it decides about, index lookups, insert or update, "
        "cross-reference, change log, audit row), after the API key (cached for a few seconds) and the shared rate "
        "limit (a small lease of tokens from the shared bucket: one statement per lease, not per call). Creates of different people never wait for each other.", "",
    ]
    if api.during is not None and api.idle is not None:
        d, idle = api.during, api.idle
        lines += [
            f"### Single creates while a {cfg.during_rows:,}-row import of the same account runs", "",
            f"One client, a new patient every {cfg.probe_interval_s * 1000:.0f} ms through `POST /api/patients`: "
            f"{cfg.idle_probe_s:.0f} s with nothing else running (idle), then for the whole `pipeline.import_file` "
            f"of a {cfg.during_rows:,}-row platform-header CSV of the same account in a child process "
            f"({api.during_import_s:.0f} s; load average {' → '.join(f'{x:.1f}' for x in api.during_load)}).", "",
            "| phase | calls | failed | p50 ms | p99 ms | max ms |", "|---|---|---|---|---|---|",
            f"| idle | {idle.calls} | 0 | {idle.p50_ms:.1f} | {idle.p99_ms:.1f} | {idle.max_ms:.0f} |",
            f"| during the import | {d.calls} | {api.during_failures} | {d.p50_ms:.1f} | {d.p99_ms:.1f} | "
            f"{d.max_ms:.0f} |", "",
        ]
    return lines


def _bar_lines(bars: list[Bar]) -> list[str]:
    lines = ["| bar | measured | target | result |", "|---|---|---|---|"]
    return lines + [f"| {b.name} | {b.measured} | {b.threshold} | {'PASS' if b.passed else '**FAIL**'} |" for b in bars]
