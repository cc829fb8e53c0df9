"""BENCHMARKS.md: the markdown results table of one benchmark run (medians, rows/s, ratios, bars, RSS)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from include.bench.api_bench import ApiBench
from include.bench.api_bench import render as api_render
from include.bench.backfill_bench import BackfillBench, writer_ratios
from include.bench.e2e_bench import IMPORT_DAG, MIGRATION_DAG, E2ERun
from include.bench.harness import Bar, Timing, ratio
from include.bench.import_bench import ImportBench, peak_rss


def _timing_rows(timings: list[Timing], extra_cols: int = 0) -> list[str]:
    rows = []
    for t in timings:
        secs = ", ".join(f"{s:.2f}" for s in t.seconds)
        rows.append(f"| {t.path} | {t.size} | {t.median_rows:,} | {t.median_seconds:.2f} | {t.rows_per_s:,.0f} | "
                    f"{secs} |" + " |" * extra_cols)
    return rows


def _bars(bars: list[Bar]) -> list[str]:
    barred = [b for b in bars if b.barred]
    lines = ["| bar | measured | target | result |", "|---|---|---|---|"]
    lines += [f"| {b.name} | {b.measured} | {b.threshold} | {'PASS' if b.passed else '**FAIL**'} |" for b in barred]
    shown = [b for b in bars if not b.barred]
    if shown:
        lines += ["", "Ratios the spec reports without a bar:", "", "| ratio | measured | note |", "|---|---|---|"]
        lines += [f"| {b.name} | {b.measured} | {b.threshold} |" for b in shown]
    return lines


def _e2e(runs: list[E2ERun], backfill: BackfillBench | None, imports: ImportBench | None) -> list[str]:
    """The DAG runs next to their task durations and to the standalone part benchmark of the same size."""
    parts = {MIGRATION_DAG: ("backfill P", backfill.p if backfill else {}),
             IMPORT_DAG: ("import P", imports.p if imports else {})}
    lines = ["Each DAG run once through `airflow dags test` (the whole process: DAG parsing, scheduling, every "
             "task), its task durations as Airflow recorded them, and the standalone part benchmark of the same "
             "size from this run (median), so the orchestration overhead and the DAG's extra steps (preflight, "
             "upgrades, gates with GX, finalize, reports; the import's ledger, GX gate, file moves, night summary) "
             "are visible.", "",
             "| DAG | size | rows | `airflow dags test` s | sum of task durations s | overhead s | rows/s (wall) "
             "| standalone part s | slowest tasks (s) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        name, timings = parts.get(r.dag_id, ("", {}))
        part = timings.get(r.size)
        part_text = f"{name}: {part.median_seconds:.1f}" if part else "not run"
        slow = ", ".join(f"{t} {s:.1f}" for t, s in r.slowest)
        lines.append(f"| {r.dag_id} | {r.size} | {r.rows:,} | {r.wall_seconds:.1f} | {r.tasks_seconds:.1f} "
                     f"({r.tasks} task instances) | {r.overhead_seconds:.1f} | {r.rows_per_s:,.0f} | {part_text} "
                     f"| {slow} |")
    return lines


def render(meta: dict[str, Any], backfill: BackfillBench | None, imports: ImportBench | None,
           e2e: list[E2ERun] | None = None, api: ApiBench | None = None) -> str:
    lines = [
        "# Benchmark results",
        "",
        "Produced by `make bench` (`python -m include.bench`); what is measured and the bars are in the spec "
        "(BENCHMARKS.md of the shared spec). Times are medians of the repeats; only ratios between paths measured "
        "in the same run on copies of the same database are meaningful on this shared machine.",
        "",
        f"- command: `{meta['command']}`",
        f"- run: {meta['started']} → {meta['finished']} (wall {meta['wall_minutes']:.1f} min)",
        f"- sizes run: {meta['sizes_note']}",
        f"- repeats: {meta['repeats']} (median reported; each trial on its own `CREATE DATABASE … TEMPLATE` copy)",
        f"- PostgreSQL {meta['postgres']} ({meta['server_kind']} server; {meta.get('server_settings', '')})",
        f"- machine: {meta['cores']} cores, {meta['memory_gib']} GiB RAM, Python {meta['python']}, {meta['platform']}",
        f"- code: git {meta['git']} (working tree at the time of the run{', with uncommitted changes' if meta['dirty'] else ''})",
        "",
    ]
    all_bars = (backfill.bars if backfill else []) + (imports.bars if imports else [])
    if all_bars:
        lines += ["## Bars", "", *_bars(all_bars), ""]
    if backfill is not None:
        lines += ["## Backfill (invites → patients, links, chat sessions)", "",
                  f"P = `include.backfill.run_all` with its defaults (batch size {backfill.batch_size}, "
                  f"{backfill.lanes} key-range lanes, lock_timeout {backfill.lock_timeout_ms} ms). "
                  "C2 = the full ceiling: every write of the end state as one set-based statement each in one "
                  "transaction (patients from the invites' identity keys in the key form, the users' links, patients "
                  "of invite-less patient users, invites.patient_id, chat_sessions.patient_id; no batching, checks or "
                  "ledgers). C1 = the narrow ceiling: one INSERT…SELECT + one UPDATE…FROM of the invites. "
                  "B0 = per-row loop on a limited number of invites. rows = invites processed.", "",
                  "| path | size | rows | median s | rows/s | seconds per repeat |", "|---|---|---|---|---|---|"]
        lines += _timing_rows([*backfill.b0.values(), *backfill.c1.values(), *backfill.c2.values(),
                               *backfill.p.values(), *backfill.pt.values()])
        if backfill.pt:
            lines += ["", f"P throttled = P with the commit-latency throttle (`throttle_factor` "
                      f"{backfill.throttle_factor:g}, include/backfill/throttle.py; off by default): each lane "
                      "pauses while a durable heartbeat commit is slower than that factor times its idle latency."]
        lines += ["", "Concurrent application writer (one insert or status update of an invite per transaction, "
                  f"fixed rate, `lock_timeout` = the backfill's), idle on the same copy for {backfill.idle_seconds:.0f} s just "
                  "before P, then during P; the bar is the median of the trials' own ratios:",
                  "", "| P | size | trial | idle p50 / p99 ms | during p50 / p99 / max ms | p99 ratio | ops during "
                  "| lock timeouts |", "|---|---|---|---|---|---|---|---|"]
        for name, idles, busys, throttled in (("P", backfill.idle, backfill.busy, False),
                                              ("P throttled", backfill.idle_t, backfill.busy_t, True)):
            for label, busy in busys.items():
                trials = zip(idles.get(label, []), busy, writer_ratios(backfill, label, throttled), strict=False)
                for n, (i, b, r) in enumerate(trials, start=1):
                    lines.append(f"| {name} | {label} | {n} | {i.p50_ms:.1f} / {i.p99_ms:.1f} | {b.p50_ms:.1f} / "
                                 f"{b.p99_ms:.1f} / {b.max_ms:.0f} | {r:.2f}× | {b.ops} | {b.lock_timeouts} |")
        if backfill.w0:
            lines += ["", "W0 = the writer's floor (include/bench/writer_floor.py): right after each P trial, on a fresh "
                      "copy, the same volume of WAL as P's batched phases wrote, into an unrelated table "
                      "(`bench_w0_floor`, no lock the writer needs), in P's batch count, batch size, lanes and commit "
                      "settings, paced over P's phase time. The bar compares the writer during P's batched phases "
                      "(the plan writes almost no WAL) with the writer during W0:", "",
                      "| size | trial | P's phases: WAL MB, s, batches | W0: WAL MB, s, batches | writer p50 / p99 / max ms "
                      "during P's phases | during W0 | p99 P / W0 |", "|---|---|---|---|---|---|---|"]
            for label, w0s in backfill.w0.items():
                rows = zip(backfill.busy_phases.get(label, []), w0s, backfill.w0_runs.get(label, []), strict=False)
                for n, (p, w, run) in enumerate(rows, start=1):
                    lines.append(f"| {label} | {n} | {run['p_wal_mb']:.0f}, {run['p_phase_s']:.0f}, {run['p_batches']:.0f} "
                                 f"| {run['w0_wal_mb']:.0f}, {run['w0_s']:.0f}, {run['w0_batches']:.0f} | {p.p50_ms:.1f} / "
                                 f"{p.p99_ms:.1f} / {p.max_ms:.0f} | {w.p50_ms:.1f} / {w.p99_ms:.1f} / {w.max_ms:.0f} "
                                 f"| {ratio(p.p99_ms, w.p99_ms):.2f}× |")
        seeds = ", ".join(f"{k} {v:.0f}s" for k, v in backfill.seed_seconds.items())
        lines += ["", f"Template preparation (seed + upgrade to 20250529): {seeds}.", ""]
    if imports is not None:
        lines += ["## Import (one clinic CSV → patients)", "",
                  f"Template: legacy set migrated to finalize; the bench account has {imports.account_rows:,} patients. "
                  "rows = data rows of the file. P = `include.imports.file_import.import_file` in a spawned child "
                  "process (peak RSS = its `ru_maxrss`).", "",
                  "| path | size | rows | median s | rows/s | seconds per repeat |", "|---|---|---|---|---|---|"]
        lines += _timing_rows([*imports.b2.values(), *imports.c0.values(), *imports.c1.values(), *imports.p.values()])
        lines += ["", "| P at | peak RSS MB (max of repeats) | peak RSS before the file MB | counts (last repeat) |",
                  "|---|---|---|---|"]
        for label, t in imports.p.items():
            before = max(t.extra.get("rss_before_import_mb", [0.0]))  # type: ignore[arg-type]
            counts = t.extra.get("counts", {})
            lines.append(f"| {label} | {peak_rss(t):.0f} | {before:.0f} | "
                         + ", ".join(f"{k} {v}" for k, v in counts.items()) + " |")  # type: ignore[union-attr]
        csvs = "; ".join(f"{k}: {v['rows']:,} rows, {v['matching']:,} matching, {v['duplicates']:,} duplicates, "
                         f"{v['defective']:,} defective" for k, v in imports.csv.items())
        lines += ["", f"Clinic CSVs: {csvs}.", ""]
    if api is not None:
        lines += api_render(api, meta["command"], meta["started"])
    lines += ["## End to end", "", *(_e2e(e2e, backfill, imports) if e2e else [meta.get("e2e_note", "")]), ""]
    if meta.get("notes"):
        lines += ["## Notes", "", *[f"- {n}" for n in meta["notes"]], ""]
    return "\n".join(lines)


#: Sections measured by their own commands (``python -m include.bench.key_form_ab``,
#: ``python -m include.bench.previous_values_ab``, ``make bench-scale``, ``make bench-identity``), not by ``make bench``, and the
#: backfill's profile written from them: a regenerated BENCHMARKS.md keeps them as they were.
KEPT_SECTIONS = ("## Key form", "## Import with previous values kept", "## Real-world feeds", "## Growth",
                 "## Backfill profile", "## Identity", "## Backfill at scale")


def _kept_sections(old: str) -> str:
    out, keep = [], False
    for line in old.splitlines():
        if line.startswith("## "):
            keep = line.startswith(KEPT_SECTIONS)
        if keep:
            out.append(line)
    return "\n".join(out).strip()


def write(path: Path, text: str) -> None:
    """Write the results; the sections measured by their own commands (the key form's, ``key_form_ab``, and the
    object-storage one, ``object_storage_bench``) are kept as they were."""
    from include.bench import object_storage_bench

    old = path.read_text(encoding="utf-8") if path.exists() else ""
    storage = object_storage_bench.preserved_section(path).strip()
    if storage:
        old = old.replace(storage, "")
    kept = [k for k in (_kept_sections(old), storage) if k]
    path.write_text(text.rstrip("\n") + "\n" + "".join("\n" + k + "\n" for k in kept), encoding="utf-8")


def replace_section(path: Path, lines: list[str]) -> None:
    """Put one ``## `` section (``lines[0]`` is its heading) into an existing results file: replace the section
    of that heading, else insert it before ``## End to end`` (else at the end). The rest is left as it is."""
    heading = lines[0]
    old = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    if heading in old:
        start = old.index(heading)
        end = next((i for i in range(start + 1, len(old)) if old[i].startswith("## ")), len(old))
    else:
        start = end = old.index("## End to end") if "## End to end" in old else len(old)
    new = old[:start] + lines + old[end:]
    path.write_text("\n".join(new).rstrip("\n") + "\n", encoding="utf-8")  # the other sections as they are
