"""Command line of the backfill: ``python -m include.backfill --run-id R [run|plan|create_patients|...]``.

Prints ids, counts and timings only (never PHI). Exit code 0 when the requested step completed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict

from include.backfill import (
    BackfillOptions,
    catch_up,
    create_patients,
    link_chat_sessions,
    link_invites,
    link_users,
    plan,
    run_all,
)
from include.core import db, settings

STEPS = {
    "plan": plan, "create_patients": create_patients, "link_invites": link_invites, "link_users": link_users,
    "link_chat_sessions": link_chat_sessions, "catch_up": catch_up,
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m include.backfill", description=__doc__)
    p.add_argument("step", nargs="?", default="run", choices=["run", *STEPS])
    p.add_argument("--run-id", required=True, help="names the run in every ledger and checkpoint")
    p.add_argument("--db", default=None, help="database URI (default: the app database resolution of include.core.db)")
    p.add_argument("--batch-size", type=int, default=settings.DEFAULT_BATCH_SIZE)
    p.add_argument("--lock-timeout-ms", type=int, default=None)
    p.add_argument("--max-batches", type=int, default=None, help="pause each phase (each lane) after this many batches")
    p.add_argument("--lanes", type=int, default=settings.DEFAULT_BACKFILL_LANES,
                   help="key-range lanes per phase, side by side (default %(default)s)")
    p.add_argument("--throttle-factor", type=float, default=settings.DEFAULT_THROTTLE_FACTOR,
                   help="0 = off; else pause while a durable commit is slower than this factor times its idle latency")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    kwargs: dict[str, object] = {"run_id": args.run_id, "batch_size": args.batch_size,
                                 "max_batches": args.max_batches, "lanes": args.lanes,
                                 "throttle_factor": args.throttle_factor}
    if args.lock_timeout_ms is not None:
        kwargs["lock_timeout_ms"] = args.lock_timeout_ms
    opts = BackfillOptions(**kwargs)  # type: ignore[arg-type]
    engine = db.app_engine(args.db)
    with engine.connect() as conn:
        if args.step == "run":
            result = run_all(conn, opts)
            out: object = asdict(result)
            ok = result.complete
        else:
            res = STEPS[args.step](conn, opts)
            out = res if isinstance(res, dict) else asdict(res)
            ok = bool(out.get("complete", True)) if isinstance(out, dict) else True
    json.dump(out, sys.stdout, default=str, indent=1)
    sys.stdout.write("\n")
    return 0 if ok else 3


if __name__ == "__main__":
    raise SystemExit(main())
