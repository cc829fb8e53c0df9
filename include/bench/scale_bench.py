"""``make bench-scale``: the backfill P at 300k, 1M and 3M invites (BENCHMARKS.md, Growth).

Per size: a template seeded and upgraded to ``20250529_update_patients`` (as the backfill benchmark's), a
``CREATE DATABASE ... TEMPLATE`` copy, and P (``include.backfill.run_all`` with its defaults) in a spawned
child process, so its peak RSS (``ru_maxrss``) is the pipeline process's own. Recorded per size: seconds,
seconds per invite, the child's peak RSS, and the temporary files PostgreSQL wrote for the copy's
database during P (``pg_stat_database.temp_files`` / ``temp_bytes``). The bar: seconds per invite at the
largest size ≤ 1.2 × at 1M. Not part of ``make bench`` (the 3M template alone takes minutes); its section of
BENCHMARKS.md is replaced in place and kept when ``make bench`` regenerates the file.

Counts and seconds only; nothing here reads or prints row contents.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import url as sa_url

from include.bench import backfill_bench, report
from include.bench.harness import (
    Bar,
    BenchSetupError,
    Machine,
    Server,
    connect_server,
    database_copy,
    drop_database,
    now_utc,
    ratio,
    run_in_child,
    say,
)
from include.core import settings
from include.core.errors import GenascopeError

HEADING = "## Growth (make bench-scale)"
#: Invites per size label; the bar compares the largest with "1M" (L of the default run).
SIZES: dict[str, int] = {"300k": 300_000, "1M": 1_000_000, "3M": 3_000_000, "10M": 10_000_000}
BASE = "1M"
GROWTH_LIMIT = 1.2


class ScaleBenchError(GenascopeError, RuntimeError):
    """P failed in its child process; the message names the exception type only (never values)."""


@dataclass
class ScaleRun:
    label: str
    invites: int
    rows: int  # invites P processed (as in the backfill benchmark)
    seconds: float
    peak_rss_mb: float
    temp_files: int
    temp_bytes: int
    phases: dict[str, float]
    seed_seconds: float
    #: WAL the server wrote while P ran (pg_current_wal_lsn before/after; the whole server, so other
    #: databases' writes on it count too), and the copy's size before and after P (pg_database_size)
    wal_bytes: int = 0
    db_bytes_before: int = 0
    db_bytes_after: int = 0

    @property
    def us_per_invite(self) -> float:
        return 1e6 * self.seconds / self.rows if self.rows else 0.0


def _p_child(out: Any, uri: str, run_id: str) -> None:
    """Runs in the spawned child: the whole backfill, then seconds, counts and ru_maxrss through ``out``."""
    try:
        from include.backfill import BackfillOptions, run_all
        from include.core import db

        engine = db.create_engine(uri)
        started = time.perf_counter()
        with engine.connect() as conn:
            result = run_all(conn, BackfillOptions(run_id=run_id))
        seconds = time.perf_counter() - started
        engine.dispose()
        out.put({"ok": result.complete, "seconds": seconds,
                 "rows": result.plan.invites_to_link + len(result.plan.quarantined_invite_ids),
                 "phases": {p.phase: p.seconds for p in result.phases},
                 "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                 "error": None if result.complete else "incomplete"})
    except BaseException as exc:  # noqa: BLE001 - the parent raises with the type only (no values)
        out.put({"ok": False, "error": type(exc).__name__})


def _temp_usage(server: Server, dbname: str) -> tuple[int, int]:
    with server.admin() as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute("SELECT temp_files, temp_bytes FROM pg_stat_database WHERE datname = %s",
                           (dbname,)).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def _wal_and_size(server: Server, dbname: str) -> tuple[int, int]:
    """(current WAL position in bytes, database size in bytes)."""
    with server.admin() as conn:
        row = conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn, pg_database_size(%s)", (dbname,)).fetchone()
    return int(row[0]), int(row[1])


def run_size(server: Server, label: str, invites: int, seed: int, timeout_s: float = 4 * 3600) -> ScaleRun:
    template, seed_seconds = backfill_bench.build_template(server, f"scale_{label.lower()}", invites, seed)
    try:
        with database_copy(server, template, f"scale_p_{label.lower()}") as uri:
            # the database name (the embedded server's URI ends in ?host=<socket dir>, so not the last "/" part)
            dbname = sa_url.make_url(uri).database
            files0, bytes0 = _temp_usage(server, dbname)
            wal0, size0 = _wal_and_size(server, dbname)
            msg = run_in_child(_p_child, (uri, f"bench-scale-{label}"), name="bench-scale-p", timeout_s=timeout_s)
            if not msg.get("ok"):
                raise ScaleBenchError(f"P failed at {label} in its child process: {msg.get('error')}")
            files1, bytes1 = _temp_usage(server, dbname)
            wal1, size1 = _wal_and_size(server, dbname)
    finally:
        drop_database(server, template)
    run = ScaleRun(label, invites, int(msg["rows"]), float(msg["seconds"]), round(float(msg["peak_rss_mb"]), 1),
                   files1 - files0, bytes1 - bytes0, msg["phases"], seed_seconds, wal1 - wal0, size0, size1)
    say(f"scale P {label}: {run.rows} invites in {run.seconds:.1f}s ({run.us_per_invite:.1f} µs/invite), "
        f"peak RSS {run.peak_rss_mb:.0f} MB, temp {run.temp_files} files / {run.temp_bytes / 2**20:.0f} MB, "
        f"WAL {run.wal_bytes / 2**20:.0f} MB, database {run.db_bytes_before / 2**20:.0f} -> "
        f"{run.db_bytes_after / 2**20:.0f} MB")
    return run


def growth_bar(runs: list[ScaleRun]) -> Bar | None:
    by = {r.label: r for r in runs}
    top = max(runs, key=lambda r: r.invites, default=None)
    if BASE not in by or top is None or top.label == BASE:
        return None
    r = ratio(top.us_per_invite, by[BASE].us_per_invite)
    return Bar(f"backfill P seconds per invite {top.label} / {BASE}",
               f"{top.us_per_invite:.1f} / {by[BASE].us_per_invite:.1f} µs = {r:.2f}×", f"≤ {GROWTH_LIMIT}×",
               r <= GROWTH_LIMIT)


def render(runs: list[ScaleRun], meta: dict[str, Any]) -> list[str]:
    bar = growth_bar(runs)
    lines = [HEADING, "",
             f"- command: `{meta['command']}`; run {meta['started']} → {meta['finished']}; PostgreSQL "
             f"{meta['postgres']} ({meta['server_kind']} server); {meta['cores']} cores, {meta['memory_gib']} GiB; "
             f"git {meta['git']}{' (with uncommitted changes)' if meta['dirty'] else ''}",
             "- P = `include.backfill.run_all` with its defaults in a spawned child process (peak RSS = its "
             "`ru_maxrss`), one run per size on a fresh copy of that size's seeded template; temp = the "
             "temporary files PostgreSQL wrote for that database during P (`pg_stat_database`); WAL = the "
             "server's WAL position before/after P (other databases on the server count too); database MB = "
             "`pg_database_size` of the copy before → after P.",
             f"- load average (1/5/15 min) at the start: {meta.get('load_start', '?')}, at the end: "
             f"{meta.get('load', '?')} (the machine's other jobs count: compare the sizes of one run)", ""]
    if bar is not None:
        lines += ["| bar | measured | target | result |", "|---|---|---|---|",
                  f"| {bar.name} | {bar.measured} | {bar.threshold} | {'PASS' if bar.passed else '**FAIL**'} |", ""]
    lines += ["| invites | P s | µs per invite | peak RSS MB | temp files | temp MB | WAL MB | database MB before → "
              "after | phases s (create, link invites, link users, link chats) | template s |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        phases = ", ".join(f"{s:.1f}" for s in r.phases.values())
        lines.append(f"| {r.rows:,} | {r.seconds:.1f} | {r.us_per_invite:.1f} | {r.peak_rss_mb:.0f} | {r.temp_files} "
                     f"| {r.temp_bytes / 2**20:.0f} | {r.wal_bytes / 2**20:.0f} | {r.db_bytes_before / 2**20:.0f} → "
                     f"{r.db_bytes_after / 2**20:.0f} | {phases} | {r.seed_seconds:.0f} |")
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m include.bench.scale_bench", description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="300k,1M,3M", help="comma-separated among " + ", ".join(SIZES))
    p.add_argument("--server-url", help="admin URI of a PostgreSQL server (default: embedded)")
    p.add_argument("--out", default=str(settings.PROJECT_ROOT / "BENCHMARKS.md"), help="results file")
    p.add_argument("--seed", type=int, default=backfill_bench.BackfillConfig.seed)
    args = p.parse_args(argv)
    labels = [s.strip() for s in args.sizes.split(",") if s.strip()]
    if not labels or any(s not in SIZES for s in labels):
        p.error(f"--sizes takes a comma-separated subset of {','.join(SIZES)}")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    from include.bench.suite import _git

    try:
        server = connect_server(args.server_url)
    except BenchSetupError as exc:
        print(f"bench-scale: {exc}", file=sys.stderr)
        return 2
    machine = Machine.current()
    git, dirty = _git()
    meta = {"command": "make bench-scale" + (f" BENCH_ARGS={shlex.quote(' '.join(argv))}" if argv else ""),
            "started": now_utc(), "postgres": server.version, "server_kind": server.kind, "git": git,
            "dirty": dirty, **asdict(machine), "load_start": "/".join(f"{x:.1f}" for x in os.getloadavg())}
    runs: list[ScaleRun] = []
    for label in sorted(labels, key=SIZES.__getitem__):
        runs.append(run_size(server, label, SIZES[label], args.seed))
        meta["finished"] = now_utc()
        meta["load"] = "/".join(f"{x:.1f}" for x in os.getloadavg())
        report.replace_section(Path(args.out), render(runs, meta))  # after each size: a long run keeps its numbers
    bar = growth_bar(runs)
    if bar is not None:
        say(f"{'PASS' if bar.passed else 'FAIL'}  {bar.name}: {bar.measured} (target {bar.threshold})")
    say(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
