"""Import P with and without previous values kept (``python -m include.bench.previous_values_ab``).

Since stewardship, every import update records the patient's previous values (``merge_update.sql``) so a
file can be undone. This A/B measures what that costs: the import bench path P (``import_file`` in a
spawned child, as in ``import_bench``) at one size, alternating a *base* checkout (the tree before
previous values were kept; ``--base``, e.g. ``git archive main | tar -x -C /tmp/base``) and this tree,
each trial on a fresh copy of the same template database with the same CSV. Prints the median rows/s of
each side and their ratio (this tree / base), by wall clock and by CPU seconds (the trial's processes plus
the server's backends, read from /proc: on a shared machine the CPU ratio is the steadier one; use a
server no one else uses during the run). Counts and seconds only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from include import seed as seeder
from include.bench.harness import SIZES, connect_server, database_copy, drop_database, median
from include.bench.import_bench import build_template
from include.core import settings

#: Runs in the checkout given as cwd (its own ``include`` package): one P trial, one JSON line.
TRIAL = (
    "import json, sys\n"
    "from pathlib import Path\n"
    "from include.bench.import_paths import project_p\n"
    "r = project_p(sys.argv[1], Path(sys.argv[2]), sys.argv[3])\n"
    "print('TRIAL ' + json.dumps({'rows': r.rows, 'seconds': r.seconds, 'result': r.result}))\n"
)


def _ticks(pid: int) -> float:
    """utime + stime (+ cutime + cstime of reaped children) of one process, in seconds (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def server_cpu(postmaster: int | None) -> float:
    """CPU seconds of the server: the postmaster, its reaped children and its live children."""
    if postmaster is None:
        return 0.0
    total = _ticks(postmaster)
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                ppid = int(Path(proc, "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == postmaster:
                total += _ticks(int(proc.name))
    return total


def postmaster_pid(server_url: str | None) -> int | None:
    if server_url:
        return None  # another machine's server: wall clock only
    pid_file = settings.EMBEDDED_PGDATA / "postmaster.pid"
    return int(pid_file.read_text().split()[0]) if pid_file.exists() else None


def trial(checkout: Path, uri: str, csv_path: Path, account: str, postmaster: int | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    srv0 = server_cpu(postmaster)
    proc = subprocess.run([sys.executable, "-c", TRIAL, uri, str(csv_path), account], cwd=checkout, env=env,
                          capture_output=True, text=True, timeout=3600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("TRIAL ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"P trial in {checkout} failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = json.loads(lines[-1][len("TRIAL "):])
    out["client_cpu_s"] = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    out["server_cpu_s"] = server_cpu(postmaster) - srv0
    out["cpu_s"] = out["client_cpu_s"] + out["server_cpu_s"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m include.bench.previous_values_ab", description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True, help="a checkout of the tree without previous values (with .venv)")
    p.add_argument("--size", default="M", choices=sorted(SIZES))
    p.add_argument("--rounds", type=int, default=3, help="base/this-tree pairs, alternating (default 3)")
    p.add_argument("--template-invites", type=int, default=20_000)
    p.add_argument("--server-url", help="admin URI of a PostgreSQL server (default: embedded)")
    p.add_argument("--json", help="write the trials and medians here")
    p.add_argument("--template", help="reuse this template database (with --account and --csv)")
    p.add_argument("--account")
    p.add_argument("--csv")
    args = p.parse_args(argv)
    base, head = Path(args.base).resolve(), settings.PROJECT_ROOT
    server = connect_server(args.server_url)
    postmaster = postmaster_pid(args.server_url)
    if args.template:
        template, account, csv_path = args.template, args.account, Path(args.csv)
    else:
        template, account, _ = build_template(server, args.template_invites, 42)
        csv_path = Path(tempfile.mkdtemp(prefix="gs_bench_pv_")) / f"clinic_{args.size}.csv"
        seeder.write_clinic_csv(csv_path, SIZES[args.size], 42, match_uri=server.uri(template), match_account_id=account)
    out: dict[str, list[dict]] = {"base": [], "head": []}
    try:
        for r in range(args.rounds):
            order = [("base", base), ("head", head)] if r % 2 == 0 else [("head", head), ("base", base)]
            for label, checkout in order:
                with database_copy(server, template, f"pv_{label}") as uri:
                    t = trial(checkout, uri, csv_path, account, postmaster)
                out[label].append(t)
                print(f"round {r + 1} {label}: {t['rows']} rows in {t['seconds']:.2f}s "
                      f"({t['rows'] / t['seconds']:,.0f} rows/s; CPU {t['cpu_s']:.2f}s = client {t['client_cpu_s']:.2f} "
                      f"+ server {t['server_cpu_s']:.2f}; updated {t['result'].get('updated')})", flush=True)
    finally:
        drop_database(server, template)
    rate = {k: median([t["rows"] / t["seconds"] for t in v]) for k, v in out.items()}
    cpu = {k: median([t["rows"] / t["cpu_s"] for t in v if t["cpu_s"] > 0] or [0.0]) for k, v in out.items()}
    summary = {"size": args.size, "rounds": args.rounds, "base_rows_per_s": rate["base"],
               "head_rows_per_s": rate["head"], "ratio_head_over_base": rate["head"] / rate["base"],
               "base_rows_per_cpu_s": cpu["base"], "head_rows_per_cpu_s": cpu["head"],
               "cpu_ratio_head_over_base": cpu["head"] / cpu["base"] if cpu["base"] else None}
    print(json.dumps(summary))
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "trials": out}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
