"""``python -m include.seed``: load synthetic legacy data, or write a synthetic clinic CSV.

    python -m include.seed --invites 10000 [--seed 42] [--database-url URI] [--missing-names 0]
    python -m include.seed --csv-clinic OUT.csv --rows 1000000 [--invites N] [--seed 42]
                           [--database-url URI] [--match-account ACCOUNT_ID]

Without ``--database-url`` the app database is resolved as everywhere else (include.core.db). In CSV
mode the database is only read (to pick the ~5% matching rows); without ``--database-url`` the
matches come from the pure generator for ``--invites`` with the same seed. Output: counts only.
"""

from __future__ import annotations

import argparse
import sys

from include.core import db
from include.seed.clinic_csv import write_clinic_csv
from include.seed.generator import SeedParameterError
from include.seed.loader import SeedPermissionError, SeedTargetNotEmpty, SeedTargetNotReady, generate


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m include.seed", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--invites", type=int, help="number of legacy invites to generate")
    p.add_argument("--seed", type=int, default=42, help="random seed (same seed + size = same rows)")
    p.add_argument("--database-url", help="target database URI (default: the app database)")
    p.add_argument("--missing-names", type=int, default=0,
                   help="add K nameless invites with no user to take a name from (blocks finalize)")
    p.add_argument("--chunk-invites", type=int, default=None, help="invites per COPY chunk (memory bound)")
    p.add_argument("--fk-checks", choices=("auto", "on", "verify"), default="auto",
                   help="on: per-row FK triggers; verify: skip them and prove every reference before COMMIT "
                        "(superuser); auto: verify when permitted")
    p.add_argument("--csv-clinic", metavar="OUT.csv", help="write a clinic CSV instead of loading the database")
    p.add_argument("--rows", type=int, default=None, help="data rows of the clinic CSV")
    p.add_argument("--match-account", default=None, help="only match persons invited in this account id")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.csv_clinic:
            if args.rows is None:
                raise SeedParameterError("--csv-clinic needs --rows M")
            summary = write_clinic_csv(args.csv_clinic, args.rows, args.seed, args.database_url,
                                       match_invites=args.invites, match_account_id=args.match_account,
                                       match_missing_names=args.missing_names)
            print(summary.render())
            return 0
        if args.invites is None:
            raise SeedParameterError("--invites N is required")
        uri = args.database_url or db.resolve_app_database().uri
        print(generate(uri, args.invites, args.seed, missing_names=args.missing_names,
                       chunk_invites=args.chunk_invites, fk_checks=args.fk_checks).render())
        return 0
    except (SeedParameterError, SeedTargetNotReady, SeedTargetNotEmpty, SeedPermissionError) as exc:
        print(f"seed: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
