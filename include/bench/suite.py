"""What ``make bench`` runs: the backfill and import benchmarks with the chosen sizes, then BENCHMARKS.md.

``run(options)`` is the full benchmark (the CLI); ``run_smoke()`` the tiny variant for the test suite.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from include.bench import api_bench, backfill_bench, e2e_bench, import_bench, report
from include.bench.harness import SIZES, Machine, Server, Stopwatch, connect_server, now_utc, say
from include.core import settings

E2E_NOTE = ("Not run in this invocation (`--only backfill|import`, `--no-e2e` or the smoke run); `make bench` "
            "runs it after the part benchmarks.")

NOTES = (
    "B0 rows/s hardly depends on the table size (indexed look-ups); P/B0 compares P at the largest size with "
    "B0 at the largest B0 size. B2 runs on at most --b2-rows rows of the smallest CSV.",
    "Absolute times vary between runs on this shared kind of machine (±10-30%); compare the ratios of one run.",
)


@dataclass
class BenchOptions:
    only: str | None = None  # "backfill" | "import" | "api" | "e2e" | None (all)
    e2e: bool = True  # with only=None: also the end-to-end DAG runs
    sizes: list[str] = field(default_factory=lambda: ["S", "M", "L"])
    # the per-benchmark defaults live in BackfillConfig and ImportConfig (one place each)
    repeats: int = backfill_bench.BackfillConfig.repeats
    server_url: str | None = None
    out: Path | None = None
    command: str = "python -m include.bench"
    b0_limit: int = backfill_bench.BackfillConfig.b0_limit
    b2_rows: int = import_bench.ImportConfig.b2_rows
    import_template_invites: int = import_bench.ImportConfig.template_invites
    writer_rate: float = backfill_bench.BackfillConfig.writer_rate
    idle_seconds: float = backfill_bench.BackfillConfig.idle_seconds
    throttle_factor: float = backfill_bench.BackfillConfig.throttle_factor
    seed: int = backfill_bench.BackfillConfig.seed
    size_rows: dict[str, int] = field(default_factory=lambda: dict(SIZES))
    api_rows: int = api_bench.ApiConfig.rows
    api_during_rows: int = api_bench.ApiConfig.during_rows


def backfill_config(opts: BenchOptions) -> backfill_bench.BackfillConfig:
    """C1/P at the largest selected size; B0 at the selected sizes S and M (else the smallest selected)."""
    chosen = sorted(opts.sizes, key=lambda k: opts.size_rows[k])
    largest = chosen[-1]
    b0 = [k for k in chosen if k in ("S", "M")] or [chosen[0]]
    return backfill_bench.BackfillConfig(
        sizes={largest: opts.size_rows[largest]}, b0_sizes={k: opts.size_rows[k] for k in b0},
        repeats=opts.repeats, b0_limit=opts.b0_limit, seed=opts.seed, writer_rate=opts.writer_rate,
        idle_seconds=opts.idle_seconds, throttle_factor=opts.throttle_factor)


def import_config(opts: BenchOptions) -> import_bench.ImportConfig:
    """CSV sizes: the selected M and L (else the selected ones); P at each, C0/C1 at the largest, B2 capped."""
    csv = [k for k in opts.sizes if k in ("M", "L")] or list(opts.sizes)
    return import_bench.ImportConfig(
        csv_sizes={k: opts.size_rows[k] for k in csv}, template_invites=opts.import_template_invites,
        b2_rows=opts.b2_rows, repeats=opts.repeats, seed=opts.seed)


def e2e_config(opts: BenchOptions) -> e2e_bench.E2EConfig:
    """The DAGs at the largest selected size: the migration on that many invites, the import of that many rows."""
    largest = max(opts.sizes, key=lambda k: opts.size_rows[k])
    return e2e_bench.E2EConfig(invites=opts.size_rows[largest], csv_rows=opts.size_rows[largest], size_label=largest,
                               import_template_invites=opts.import_template_invites, seed=opts.seed)


#: Server settings that change the numbers, recorded with every run.
SERVER_SETTINGS_SHOWN = ("shared_buffers", "max_wal_size", "checkpoint_timeout", "wal_writer_delay", "wal_writer_flush_after",
                         "synchronous_commit", "wal_compression")


def _server_settings(server: Server) -> str:
    with server.admin() as conn:
        return ", ".join(f"{name} {conn.execute(f'SHOW {name}').fetchone()[0]}" for name in SERVER_SETTINGS_SHOWN)


def _git() -> tuple[str, bool]:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=settings.PROJECT_ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                    cwd=settings.PROJECT_ROOT, text=True, capture_output=True).stdout.strip())
        return head, dirty
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False


def run(opts: BenchOptions) -> dict[str, Any]:
    """Run the selected benchmarks; write ``opts.out`` (after each part, so a long run leaves its numbers)."""
    watch = Stopwatch()
    server: Server = connect_server(opts.server_url)
    machine = Machine.current()
    git, dirty = _git()
    say(f"PostgreSQL {server.version} ({server.kind}); {machine.cores} cores; sizes {','.join(opts.sizes)}; "
        f"repeats {opts.repeats}")
    meta: dict[str, Any] = {
        "command": opts.command, "started": now_utc(), "finished": "(running)", "wall_minutes": 0.0,
        "repeats": opts.repeats, "postgres": server.version, "server_kind": server.kind,
        "server_settings": _server_settings(server), "git": git, "dirty": dirty,
        "e2e_note": E2E_NOTE, **machine.__dict__, "notes": list(NOTES),
    }
    bf_cfg = backfill_config(opts) if opts.only in (None, "backfill") else None
    im_cfg = import_config(opts) if opts.only in (None, "import") else None
    api_cfg = (api_bench.ApiConfig(rows=opts.api_rows, seed=opts.seed, during_rows=opts.api_during_rows)
               if opts.only == "api" or (opts.only is None and opts.api_rows > 0) else None)
    e2e_cfg = e2e_config(opts) if opts.only == "e2e" or (opts.only is None and opts.e2e) else None
    parts = []
    if bf_cfg:
        parts.append("backfill C1/C2/P at " + ", ".join(f"{k} ({v:,} invites)" for k, v in bf_cfg.sizes.items())
                     + "; B0 at " + ", ".join(f"{k} (first {bf_cfg.b0_limit:,} of {v:,})" for k, v in
                                              bf_cfg.b0_sizes.items()))
    if im_cfg:
        parts.append("import CSV " + ", ".join(f"{k} ({v:,} rows)" for k, v in im_cfg.csv_sizes.items())
                     + f"; B2 on at most {im_cfg.b2_rows:,} rows")
    if api_cfg:
        parts.append(f"API: {api_cfg.rows:,} rows (file vs bulk at {api_cfg.per_call:,} per call), "
                     f"{api_cfg.clients} clients x {api_cfg.singles_per_client} single creates, one client's single "
                     f"creates idle and during a {api_cfg.during_rows:,}-row import of the same account")
    if e2e_cfg:
        parts.append(f"end to end: migration DAG on {e2e_cfg.invites:,} invites, nightly import of a "
                     f"{e2e_cfg.csv_rows:,}-row CSV (one run each)")
    meta["sizes_note"] = "; ".join(parts)
    stamp = meta["started"].replace(" ", "_").replace(":", "")  # names this run's files under runs/bench/
    backfill: backfill_bench.BackfillBench | None = None
    imports: import_bench.ImportBench | None = None
    e2e: list[e2e_bench.E2ERun] | None = None
    api: api_bench.ApiBench | None = None

    def flush() -> None:
        meta["finished"], meta["wall_minutes"] = now_utc(), watch.seconds / 60
        if opts.out is None:
            return
        if opts.only == "api":  # only the API section of an existing results file is replaced
            if api is not None:
                report.replace_section(opts.out, api_bench.render(api, opts.command, meta["started"]))
            return
        report.write(opts.out, report.render(meta, backfill, imports, e2e, api))

    if bf_cfg:
        backfill = backfill_bench.run(server, bf_cfg)
        flush()
    if im_cfg:
        imports = import_bench.run(server, im_cfg)
        flush()
    if api_cfg:
        api = api_bench.run(server, api_cfg)
        flush()
    if e2e_cfg:
        log_dir = settings.RUNS_DIR / "bench" / f"e2e-{stamp}"
        e2e = e2e_bench.run(server, e2e_cfg, log_dir)
    flush()
    results = {"meta": meta, "backfill": backfill.as_dict() if backfill else None,
               "import": imports.as_dict() if imports else None,
               "e2e": [r.as_dict() for r in e2e] if e2e else None, "api": api.as_dict() if api else None,
               "bars": [b.__dict__ for b in (backfill.bars if backfill else []) + (imports.bars if imports else [])
                        + (api.bars if api else [])]}
    if opts.out is not None:
        json_path = settings.RUNS_DIR / "bench" / f"results-{stamp}.json"
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(results, indent=2, default=str))
        say(f"wrote {opts.out} and {json_path}")
    for bar in results["bars"]:
        verdict = ("PASS" if bar["passed"] else "FAIL") if bar["barred"] else "INFO"
        say(f"{verdict}  {bar['name']}: {bar['measured']} ({'target ' if bar['barred'] else ''}{bar['threshold']})")
    say(f"done in {watch.seconds / 60:.1f} min")
    return results


def run_smoke(server_url: str | None = None, out: Path | None = None) -> dict[str, Any]:
    """Tiny sizes, one repeat (for the test suite: wide margins, not the timed bars); ``out`` optional."""
    opts = BenchOptions(
        sizes=["M"], repeats=1, server_url=server_url, out=out, command="run_smoke()", e2e=False,
        b0_limit=150, b2_rows=1_000, import_template_invites=1_500, idle_seconds=1.0, api_rows=0,
        size_rows={"S": 2_000, "M": 10_000, "L": 20_000})
    return run(opts)
