"""``python -m include.bench`` (``make bench``): run the benchmarks of BENCHMARKS.md and write the results.

Always on the embedded PostgreSQL unless ``--server-url`` names another server explicitly (never the
application database resolution). Prints counts and seconds only.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from include.bench.harness import SIZES, BenchSetupError
from include.bench.suite import BenchOptions, run, run_smoke
from include.core import settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m include.bench", description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=("backfill", "import", "api", "e2e"),
                   help="run one part only (default: backfill, import, api, then the end-to-end DAG runs); "
                        "--only api replaces just the API section of the results file")
    p.add_argument("--no-e2e", action="store_true",
                   help="skip the end-to-end runs through `airflow dags test` (they need `make airflow-db`)")
    p.add_argument("--sizes", default="S,M,L",
                   help="comma-separated sizes among S (10k), M (100k), L (1M) (default S,M,L); backfill C1/P run at "
                        "the largest, B0 at S/M; import P at M and L, C0/C1 at the largest, B2 on at most --b2-rows")
    p.add_argument("--repeats", type=int, default=BenchOptions.repeats,
                   help="repeats per path; the median is reported (default %(default)s)")
    p.add_argument("--server-url", help="admin URI of a PostgreSQL server to benchmark on (default: embedded)")
    p.add_argument("--out", default=str(settings.PROJECT_ROOT / "BENCHMARKS.md"), help="results file")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat, no results file (what the tests run)")
    p.add_argument("--b0-limit", type=int, default=BenchOptions.b0_limit,
                   help="invites B0 processes per trial (default %(default)s)")
    p.add_argument("--b2-rows", type=int, default=BenchOptions.b2_rows, help="rows B2 reads at most (default %(default)s)")
    p.add_argument("--throttle-factor", type=float, default=BenchOptions.throttle_factor,
                   help="also run P with the commit-latency throttle at this factor (default %(default)s; 0 skips it)")
    p.add_argument("--api-rows", type=int, default=BenchOptions.api_rows,
                   help="rows of the API benchmark's file and bulk calls (default %(default)s; 0 skips it)")
    p.add_argument("--api-during-rows", type=int, default=BenchOptions.api_during_rows,
                   help="rows of the import that runs while single creates of the same account are measured "
                        "(default %(default)s; 0 skips it)")
    args = p.parse_args(argv)
    sizes = [s.strip().upper() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown or not sizes:
        p.error(f"--sizes takes a comma-separated subset of {','.join(SIZES)}")
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    args.sizes = sizes
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    try:
        if args.smoke:
            run_smoke(args.server_url)
            return 0
        command = "make bench" + (f" BENCH_ARGS={shlex.quote(' '.join(argv))}" if argv else "")
        run(BenchOptions(only=args.only, e2e=not args.no_e2e, sizes=args.sizes, repeats=args.repeats,
                         server_url=args.server_url,
                         out=Path(args.out), command=command, b0_limit=args.b0_limit, b2_rows=args.b2_rows,
                         api_rows=args.api_rows, throttle_factor=args.throttle_factor,
                         api_during_rows=args.api_during_rows))
    except BenchSetupError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
