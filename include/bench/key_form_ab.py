"""What the key form costs: the backfill P and the import P of two code versions side by side.

``python -m include.bench.key_form_ab --base <git revision> [--size M] [--repeats 3]`` exports the base
revision (e.g. the commit before the key form) with ``git archive`` into a temporary folder and runs, per
repeat and in alternating order, the base's and this tree's backfill P (``include.bench.backfill_paths.
project_p``) on copies of one seeded backfill template, then their import P (``include.bench.import_paths.
project_p``) on copies of one import template with one generated clinic CSV. Templates and CSV come from this
tree's generator (with its web-form noise), so both versions see the same rows. Each path runs in a child
process whose working tree is that version (``PYTHONPATH``), on the same server, back to back; the report is
the ratio of the medians (this tree / base), because the machine is shared. Counts and seconds only.
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

from include import settings
from include.bench import backfill_bench, import_bench
from include.bench.harness import SIZES, Stopwatch, connect_server, database_copy, drop_database, say
from include.seed import write_clinic_csv

BACKFILL_CHILD = """
import json, sys
import sqlalchemy as sa
from include.bench.backfill_paths import project_p
engine = sa.create_engine(sys.argv[1])
with engine.connect() as conn:
    rows, seconds = project_p(conn, int(sys.argv[2]))
engine.dispose()
print(json.dumps({"rows": rows, "seconds": seconds}))
"""
IMPORT_CHILD = """
import json, sys
from pathlib import Path
from include.bench.import_paths import project_p
p = project_p(sys.argv[1], Path(sys.argv[2]), sys.argv[3])
print(json.dumps({"rows": p.rows, "seconds": p.seconds, "status": p.result.get("status"),
                  "inserted": p.result.get("inserted"), "updated": p.result.get("updated"),
                  "quarantined": p.result.get("quarantined")}))
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


def run(base: str, size: str, repeats: int, server_url: str | None) -> dict:
    from include import db

    server = connect_server(server_url)
    rows = SIZES[size]
    work = Path(tempfile.mkdtemp(prefix="gs_bench_keyform_"))
    trees = {"base": export_tree(base, work / "base"), "head": settings.PROJECT_ROOT}
    results: dict[str, dict[str, list[float]]] = {p: {v: [] for v in trees} for p in ("backfill", "import")}
    templates: list[str] = []
    try:
        tpl, _ = backfill_bench.build_template(server, size, rows, 42)
        templates.append(tpl)
        for r in range(repeats):
            for version in (("base", "head") if r % 2 == 0 else ("head", "base")):
                with database_copy(server, tpl, f"kf_bf_{version}") as uri:
                    got = _child(trees[version], BACKFILL_CHILD, db.to_sqlalchemy_url(uri),
                                 str(backfill_bench.P_BATCH_SIZE))
                results["backfill"][version].append(got["seconds"])
                say(f"key form A/B backfill P {size} {version} repeat {r + 1}/{repeats}: {got['rows']} invites "
                    f"in {got['seconds']:.2f}s")
        itpl, account, _ = import_bench.build_template(server, import_bench.ImportConfig.template_invites, 42)
        templates.append(itpl)
        csv = work / f"clinic_{size}.csv"
        write_clinic_csv(csv, rows, 42, match_uri=server.uri(itpl), match_account_id=account)
        for r in range(repeats):
            for version in (("base", "head") if r % 2 == 0 else ("head", "base")):
                with database_copy(server, itpl, f"kf_im_{version}") as uri:
                    got = _child(trees[version], IMPORT_CHILD, uri, str(csv), account)
                results["import"][version].append(got["seconds"])
                say(f"key form A/B import P {size} {version} repeat {r + 1}/{repeats}: {got['rows']} rows in "
                    f"{got['seconds']:.2f}s ({got['status']}, {got['inserted']} inserted, {got['updated']} updated, "
                    f"{got['quarantined']} quarantined)")
    finally:
        for name in templates:
            drop_database(server, name)
        shutil.rmtree(work, ignore_errors=True)
    summary = {"base": base, "size": size, "repeats": repeats, "postgres": server.version, "paths": {}}
    for path, by_version in results.items():
        med = {v: statistics.median(s) for v, s in by_version.items()}
        summary["paths"][path] = {"seconds": by_version, "median_s": med, "head_over_base": med["head"] / med["base"]}
        say(f"key form A/B {path} P {size}: base {med['base']:.2f}s, head {med['head']:.2f}s, "
            f"head/base {med['head'] / med['base']:.3f}")
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m include.bench.key_form_ab", description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True, help="git revision to compare with (e.g. the commit before the key form)")
    p.add_argument("--size", default="M", choices=tuple(SIZES), help="invites and CSV rows (default M = 100k)")
    p.add_argument("--repeats", type=int, default=3, help="repeats per version; medians are compared (default 3)")
    p.add_argument("--server-url", help="admin URI of the server to run on (default: the embedded one)")
    p.add_argument("--json", help="also write the timings to this file")
    args = p.parse_args(argv)
    watch = Stopwatch()
    summary = run(args.base, args.size, args.repeats, args.server_url)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    say(f"key form A/B done in {watch.seconds:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
