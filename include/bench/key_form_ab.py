"""What the key form costs: the backfill P and the import P of two code versions side by side.

``python -m include.bench.key_form_ab --base <git revision> [--head <revision>] [--size M] [--repeats 3]``
exports the base revision (e.g. the commit before the key form) with ``git archive`` into a temporary folder and runs, per
repeat and in alternating order, the base's and this tree's backfill P (``include.bench.backfill_paths.
project_p``) on copies of one seeded backfill template, then their import P (``include.bench.import_paths.
project_p``) on copies of one import template with one generated clinic CSV. Templates and CSV come from this
tree's generator (with its web-form noise), so both versions see the same rows. Each path runs in a child
process whose working tree is that version (``PYTHONPATH``), on the same server, back to back; the report is
the ratio of the medians (this tree / base) of the wall time and of the CPU time the path used (server
backends read from /proc plus the child's own), because on a shared machine the CPU a path needs is far
steadier than its wall time. Counts and seconds only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from include.bench import backfill_bench, import_bench
from include.bench.harness import SIZES, Stopwatch, connect_server, database_copy, drop_database, say
from include.core import settings
from include.seed import write_clinic_csv

#: CPU seconds of the PostgreSQL backends of one database (read from /proc: the server runs on this machine)
#: plus this process's own: on a shared machine the CPU a path uses is steadier than its wall time.
CPU_HELPERS = """
import os, resource
TICK = os.sysconf("SC_CLK_TCK")
def backend_cpu(pids):
    total = 0.0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICK
        except (OSError, IndexError, ValueError):
            pass
    return total
def own_cpu():
    r, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime
"""
BACKFILL_CHILD = CPU_HELPERS + """
import json, sys
import sqlalchemy as sa
from include.bench.backfill_paths import project_p
engine = sa.create_engine(sys.argv[1])
with engine.connect() as conn:
    pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    conn.commit()
    server0, client0 = backend_cpu([pid]), own_cpu()
    rows, seconds = project_p(conn, int(sys.argv[2]))
    server, client = backend_cpu([pid]) - server0, own_cpu() - client0
engine.dispose()
print(json.dumps({"rows": rows, "seconds": seconds, "cpu_s": server + client}))
"""
#: The import uses several connections (COPY, decisions, merge, gates) that open and close while it runs:
#: a monitor thread samples the backends of its database every 0.1 s and keeps each one's latest CPU time,
#: so the server CPU is the sum over every backend the import used (a backend that exits between two
#: samples loses at most 0.1 s), plus the import child's own.
IMPORT_CHILD = CPU_HELPERS + """
import json, sys, threading, time
from pathlib import Path
import psycopg
from include.core import db
from include.bench.import_paths import project_p
seen, stop = {}, threading.Event()
def monitor(uri):
    with psycopg.connect(db.to_libpq_uri(uri), autocommit=True) as c:
        me = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        while not stop.is_set():
            pids = [r[0] for r in c.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> %s", (me,))]
            for pid in pids:
                seen[pid] = backend_cpu([pid])
            time.sleep(0.1)
watcher = threading.Thread(target=monitor, args=(sys.argv[1],), daemon=True)
watcher.start()
time.sleep(0.3)
client0 = own_cpu()
p = project_p(sys.argv[1], Path(sys.argv[2]), sys.argv[3])
client = own_cpu() - client0
stop.set()
watcher.join()
print(json.dumps({"rows": p.rows, "seconds": p.seconds, "cpu_s": sum(seen.values()) + client,
                  "status": p.result.get("status"), "inserted": p.result.get("inserted"),
                  "updated": p.result.get("updated"), "quarantined": p.result.get("quarantined")}))
"""


def export_tree(revision: str, dest: Path) -> Path:
    """The files of ``revision`` (git archive of the project root) under ``dest``."""
    archive = subprocess.run(["git", "-C", str(settings.PROJECT_ROOT), "archive", revision],
                             check=True, capture_output=True).stdout
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def _child(tree: Path, code: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=tree, env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run(base: str, size: str, repeats: int, server_url: str | None, head: str | None = None,
        only: str | None = None) -> dict:
    from include.core import db

    server = connect_server(server_url)
    rows = SIZES[size]
    work = Path(tempfile.mkdtemp(prefix="gs_bench_keyform_"))
    trees = {"base": export_tree(base, work / "base"),
             "head": export_tree(head, work / "head") if head else settings.PROJECT_ROOT}
    results: dict[str, dict[str, list[float]]] = {p: {v: [] for v in trees} for p in ("backfill", "import")}
    cpu: dict[str, dict[str, list[float]]] = {p: {v: [] for v in trees} for p in ("backfill", "import")}
    templates: list[str] = []
    try:
        tpl, _ = backfill_bench.build_template(server, size, rows, 42) if only != "import" else ("", 0.0)
        templates += [tpl] if tpl else []
        for r in range(repeats if only != "import" else 0):
            for version in (("base", "head") if r % 2 == 0 else ("head", "base")):
                with database_copy(server, tpl, f"kf_bf_{version}") as uri:
                    got = _child(trees[version], BACKFILL_CHILD, db.to_sqlalchemy_url(uri),
                                 str(backfill_bench.P_BATCH_SIZE))
                results["backfill"][version].append(got["seconds"])
                cpu["backfill"][version].append(got["cpu_s"])
                say(f"key form A/B backfill P {size} {version} repeat {r + 1}/{repeats}: {got['rows']} invites "
                    f"in {got['seconds']:.2f}s, {got['cpu_s']:.2f} CPU s")
        import_repeats = 0 if only == "backfill" else repeats
        if import_repeats:
            itpl, account, _ = import_bench.build_template(server, import_bench.ImportConfig.template_invites, 42)
            templates.append(itpl)
            csv = work / f"clinic_{size}.csv"
            write_clinic_csv(csv, rows, 42, match_uri=server.uri(itpl), match_account_id=account)
        for r in range(import_repeats):
            for version in (("base", "head") if r % 2 == 0 else ("head", "base")):
                with database_copy(server, itpl, f"kf_im_{version}") as uri:
                    got = _child(trees[version], IMPORT_CHILD, uri, str(csv), account)
                results["import"][version].append(got["seconds"])
                cpu["import"][version].append(got["cpu_s"])
                say(f"key form A/B import P {size} {version} repeat {r + 1}/{repeats}: {got['rows']} rows in "
                    f"{got['seconds']:.2f}s, {got['cpu_s']:.2f} CPU s ({got['status']}, {got['inserted']} inserted, "
                    f"{got['updated']} updated, {got['quarantined']} quarantined)")
    finally:
        for name in templates:
            drop_database(server, name)
        shutil.rmtree(work, ignore_errors=True)
    summary = {"base": base, "head": head or "working tree", "size": size, "repeats": repeats,
               "postgres": server.version, "paths": {}}
    for path, by_version in results.items():
        if not by_version["base"]:
            continue
        med = {v: statistics.median(t) for v, t in by_version.items()}
        cmed = {v: statistics.median(t) for v, t in cpu[path].items()}
        summary["paths"][path] = {"seconds": by_version, "cpu_seconds": cpu[path], "median_s": med,
                                  "median_cpu_s": cmed, "head_over_base_wall": med["head"] / med["base"],
                                  "head_over_base_cpu": cmed["head"] / cmed["base"]}
        say(f"key form A/B {path} P {size}: median wall base {med['base']:.2f}s head {med['head']:.2f}s "
            f"(head/base {med['head'] / med['base']:.3f}); median CPU base {cmed['base']:.2f}s head "
            f"{cmed['head']:.2f}s (head/base {cmed['head'] / cmed['base']:.3f})")
    return summary


def run_micro(size: str, server_url: str | None, rounds: int = 15) -> dict:
    """The micro benchmark on a seeded copy at ``size``: SQL key expressions and the Python keys."""
    import psycopg

    from include.core import db

    server = connect_server(server_url)
    tpl, _ = backfill_bench.build_template(server, size, SIZES[size], 42)
    try:
        with database_copy(server, tpl, "kf_micro") as uri:
            with psycopg.connect(db.to_libpq_uri(uri), autocommit=True) as conn:
                for name in ("000_schema.sql", "020_key_form.sql"):
                    conn.execute((settings.SQL_DIR / "pipeline" / name).read_text())
                conn.execute("VACUUM ANALYZE invites")
                values = [v for r in conn.execute("SELECT email, first_name FROM invites").fetchall()
                          for v in r if v is not None]
            return {"sql": micro(uri, rounds), "python": micro_python(values, rounds), "postgres": server.version}
    finally:
        drop_database(server, tpl)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m include.bench.key_form_ab", description=__doc__.splitlines()[0])
    p.add_argument("--base", help="git revision to compare with (e.g. the commit before the key form)")
    p.add_argument("--only", choices=("backfill", "import"), help="one of the two paths only")
    p.add_argument("--head", help="git revision measured against --base (default: this working tree)")
    p.add_argument("--micro", action="store_true",
                   help="instead: the cost per row of each key expression, earlier vs key form (min of 15 runs)")
    p.add_argument("--size", default="M", choices=tuple(SIZES), help="invites and CSV rows (default M = 100k)")
    p.add_argument("--repeats", type=int, default=3, help="repeats per version; medians are compared (default 3)")
    p.add_argument("--server-url", help="admin URI of the server to run on (default: the embedded one)")
    p.add_argument("--json", help="also write the timings to this file")
    args = p.parse_args(argv)
    if not args.micro and not args.base:
        p.error("--base is required (or --micro)")
    watch = Stopwatch()
    summary = run_micro(args.size, args.server_url) if args.micro else run(args.base, args.size, args.repeats,
                                                                             args.server_url, args.head, args.only)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    say(f"key form A/B done in {watch.seconds:.0f}s")
    return 0



# ---------------------------------------------------------------------------------------- micro


#: The per-row key expressions of the backfill plan (plan_02), before and after the key form, over every
#: seeded invite: (label, earlier expression, key-form expression).
MICRO_SQL = (
    ("e-mail key", "lower(btrim(email))", "patient_pipeline.email_key(email)"),
    ("first-name key", "lower(btrim(first_name))", "patient_pipeline.key_form(first_name)"),
    ("stored e-mail", "btrim(email)", "patient_pipeline.trim_noise(email)"),
    ("status key", "lower(btrim(status))", "patient_pipeline.key_form(status)"),
)


def micro(uri: str, rounds: int = 7) -> dict[str, dict[str, float]]:
    """CPU cost of each key expression over all invites of ``uri`` (min of ``rounds`` alternating runs:
    the minimum is what the expression costs when nothing else competes for the core)."""
    import psycopg

    from include.core import db

    out: dict[str, dict[str, float]] = {}
    with psycopg.connect(db.to_libpq_uri(uri), autocommit=True) as conn:
        conn.execute("SET jit = off")
        conn.execute("SET max_parallel_workers_per_gather = 0")
        n = conn.execute("SELECT count(*) FROM invites").fetchone()[0]
        base_scan = _min_time(conn, "SELECT count(*) FROM invites", rounds)
        for label, old, new in MICRO_SQL:
            t_old = _min_time(conn, f"SELECT sum(length({old})) FROM invites", rounds) - base_scan
            t_new = _min_time(conn, f"SELECT sum(length({new})) FROM invites", rounds) - base_scan
            out[label] = {"rows": n, "earlier_us_per_row": 1e6 * t_old / n, "key_form_us_per_row": 1e6 * t_new / n}
            say(f"key form micro {label}: earlier {1e6 * t_old / n:.3f} us/row, key form {1e6 * t_new / n:.3f} us/row "
                f"over {n} invites")
    return out


def _min_time(conn, sql: str, rounds: int) -> float:
    import time

    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        conn.execute(sql).fetchone()
        best = min(best, time.perf_counter() - started)
    return best


def micro_python(values: list[str], rounds: int = 7) -> dict[str, float]:
    """The import's Python keys per value (first names and e-mails): str.lower vs the key form (min of rounds)."""
    import time

    from include.normalize import keys

    def best(fn) -> float:
        t = float("inf")
        for _ in range(rounds):
            started = time.perf_counter()
            for v in values:
                fn(v)
            t = min(t, time.perf_counter() - started)
        return t

    lower = best(str.lower)
    key = best(keys.key_form)
    out = {"values": len(values), "lower_us": 1e6 * lower / len(values), "key_form_us": 1e6 * key / len(values)}
    say(f"key form micro python: str.lower {out['lower_us']:.3f} us/value, key_form {out['key_form_us']:.3f} us/value")
    return out


if __name__ == "__main__":
    sys.exit(main())
