"""The backfill benchmark of BENCHMARKS.md: B0, C1 and P side by side on copies of one seeded template.

* a template per size: legacy data seeded at the baseline, upgraded to ``20250529_update_patients``;
* per repeat, C1, C2 and P each on a fresh copy, the order rotated between repeats; before P, the writer
  probe's idle latency on the same copy, then the probe runs concurrently with P;
* B0 on a limited number of invites at the small sizes (its rows/s does not depend on the table size
  much: one indexed look-up per invite).

Returns :class:`BackfillBench` (timings, probe stats, bars). Counts and seconds only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from include import seed as seeder
from include.backfill import BackfillOptions
from include.bench import backfill_paths, writer_floor
from include.bench.harness import (
    SIZES,
    Bar,
    Server,
    Stopwatch,
    Timing,
    create_database,
    database_copy,
    drop_database,
    engine_for,
    median,
    ratio,
    reported,
    say,
    unique_name,
    vacuum_analyze,
)
from include.bench.writer_probe import ProbeStats, WriterProbe
from include.core import alembic_driver, settings

#: The backfill's own defaults: P runs exactly as the DAG runs it.
P_BATCH_SIZE: int = BackfillOptions.__dataclass_fields__["batch_size"].default  # type: ignore[assignment]
LOCK_TIMEOUT_MS: int = BackfillOptions.__dataclass_fields__["lock_timeout_ms"].default  # type: ignore[assignment]
P_LANES: int = BackfillOptions.__dataclass_fields__["lanes"].default  # type: ignore[assignment]


@dataclass
class BackfillConfig:
    sizes: dict[str, int]  # label -> invites of the template(s) C1/P run on
    b0_sizes: dict[str, int]  # label -> invites of the template(s) B0 runs on
    repeats: int = 3
    b0_limit: int = 3_000
    seed: int = 42
    writer_rate: float = 20.0
    # 30 s at 20 ops/s: the idle p99 is the 6th worst of ~600 operations, not the 2nd worst of 100
    idle_seconds: float = 30.0
    #: P is also run with the commit-latency throttle at this factor ("P throttled"; 0 = not run, the
    #: default: it adds three long trials; ``make bench BENCH_ARGS='--throttle-factor 2'`` runs them)
    throttle_factor: float = 0.0


@dataclass
class BackfillBench:
    postgres: str
    c1: dict[str, Timing] = field(default_factory=dict)
    c2: dict[str, Timing] = field(default_factory=dict)
    p: dict[str, Timing] = field(default_factory=dict)
    b0: dict[str, Timing] = field(default_factory=dict)
    idle: dict[str, list[ProbeStats]] = field(default_factory=dict)
    busy: dict[str, list[ProbeStats]] = field(default_factory=dict)
    #: P with the throttle on (``throttle_factor``), and its writer windows
    pt: dict[str, Timing] = field(default_factory=dict)
    idle_t: dict[str, list[ProbeStats]] = field(default_factory=dict)
    busy_t: dict[str, list[ProbeStats]] = field(default_factory=dict)
    throttle_factor: float = 0.0
    #: the writer during P's batched phases only (the plan writes almost no WAL), and during W0 (the same
    #: WAL volume into an unrelated table, writer_floor.py) right after each P trial, on its own copy
    busy_phases: dict[str, list[ProbeStats]] = field(default_factory=dict)
    w0: dict[str, list[ProbeStats]] = field(default_factory=dict)
    #: per trial: P's WAL bytes, phase seconds and batches, and what W0 wrote
    w0_runs: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    seed_seconds: dict[str, float] = field(default_factory=dict)
    lock_timeout_ms: int = LOCK_TIMEOUT_MS
    batch_size: int = P_BATCH_SIZE
    lanes: int = P_LANES
    idle_seconds: float = 0.0
    bars: list[Bar] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "c1": {k: v.as_dict() for k, v in self.c1.items()},
            "c2": {k: v.as_dict() for k, v in self.c2.items()}, "p": {k: v.as_dict() for k, v in self.p.items()},
            "b0": {k: v.as_dict() for k, v in self.b0.items()},
            "writer_idle": {k: [s.as_dict() for s in v] for k, v in self.idle.items()},
            "writer_during_p": {k: [s.as_dict() for s in v] for k, v in self.busy.items()},
            "p_throttled": {k: v.as_dict() for k, v in self.pt.items()},
            "writer_idle_throttled": {k: [s.as_dict() for s in v] for k, v in self.idle_t.items()},
            "writer_during_p_throttled": {k: [s.as_dict() for s in v] for k, v in self.busy_t.items()},
            "throttle_factor": self.throttle_factor,
            "writer_during_p_phases": {k: [s.as_dict() for s in v] for k, v in self.busy_phases.items()},
            "writer_during_w0": {k: [s.as_dict() for s in v] for k, v in self.w0.items()},
            "w0_runs": self.w0_runs,
            "seed_seconds": self.seed_seconds, "lock_timeout_ms": self.lock_timeout_ms,
            "batch_size": self.batch_size, "lanes": self.lanes, "idle_seconds": self.idle_seconds, "bars": [b.__dict__ for b in self.bars],
        }


def build_template(server: Server, label: str, invites: int, seed: int) -> tuple[str, float]:
    """A database at 20250529_update_patients with ``invites`` seeded legacy invites; (name, seconds)."""
    name = unique_name(f"tpl_backfill_{label}")
    uri = create_database(server, name)
    watch = Stopwatch()
    engine = engine_for(uri)
    try:
        with engine.connect() as conn:
            alembic_driver.upgrade(conn, settings.REV_BASELINE)
        seeder.generate(uri, invites, seed)
        with engine.connect() as conn:
            alembic_driver.upgrade(conn, settings.REV_UPDATE_PATIENTS)
    finally:
        engine.dispose()
    vacuum_analyze(uri)
    say(f"backfill template {label}: {invites} invites seeded and upgraded in {watch.seconds:.1f}s")
    return name, watch.seconds


def _run_ceiling(server: Server, template: str, label: str, path: str) -> tuple[int, float]:
    ceiling = {"C1": backfill_paths.ceiling_c1, "C2": backfill_paths.ceiling_c2}[path]
    with database_copy(server, template, f"{path.lower()}_{label}") as uri:
        engine = engine_for(uri)
        try:
            with engine.connect() as conn:
                return ceiling(conn)
        finally:
            engine.dispose()


def _run_p(server: Server, template: str, label: str, cfg: BackfillConfig,
           throttle_factor: float = 0.0) -> tuple[int, float, ProbeStats, ProbeStats, ProbeStats, writer_floor.PWrites]:
    """P on a fresh copy with the writer probe: (rows, seconds, idle, during P, during P's batched phases,
    what P's phases wrote)."""
    with database_copy(server, template, f"p_{label}") as uri:
        engine = engine_for(uri)
        try:
            with WriterProbe(uri, cfg.writer_rate, LOCK_TIMEOUT_MS) as probe:
                idle = probe.run_for(cfg.idle_seconds)
                probe.start()
                wal0 = writer_floor.wal_position(uri)
                try:
                    with engine.connect() as conn:
                        rows, seconds = backfill_paths.project_p(conn, P_BATCH_SIZE, throttle_factor)
                finally:
                    busy = probe.stop()
                writes = writer_floor.p_writes(uri, f"bench-p-{P_BATCH_SIZE}", writer_floor.wal_position(uri) - wal0)
                phases = probe.stats_between(*writes.window)
            return rows, seconds, idle, busy, phases, writes
        finally:
            engine.dispose()


def _run_w0(server: Server, template: str, label: str, cfg: BackfillConfig,
            target: writer_floor.PWrites) -> tuple[ProbeStats, writer_floor.W0Result]:
    """W0 on a fresh copy with the writer probe running: the writer's floor for P's WAL volume."""
    with database_copy(server, template, f"w0_{label}") as uri:
        with WriterProbe(uri, cfg.writer_rate, LOCK_TIMEOUT_MS) as probe:
            probe.start()
            try:
                result = writer_floor.run_w0(uri, target, P_LANES, P_BATCH_SIZE)
            finally:
                stats = probe.stop()
        return stats, result


def _run_b0(server: Server, template: str, label: str, limit: int) -> tuple[int, float]:
    with database_copy(server, template, f"b0_{label}") as uri:
        engine = engine_for(uri)
        try:
            with engine.connect() as conn:
                return backfill_paths.per_row_b0(conn, limit)
        finally:
            engine.dispose()


def run(server: Server, cfg: BackfillConfig) -> BackfillBench:
    out = BackfillBench(postgres=server.version, idle_seconds=cfg.idle_seconds, throttle_factor=cfg.throttle_factor)
    templates: dict[str, str] = {}
    try:
        for label, invites in sorted({**cfg.b0_sizes, **cfg.sizes}.items(), key=lambda kv: kv[1]):
            templates[label], out.seed_seconds[label] = build_template(server, label, invites, cfg.seed)

        for label in cfg.b0_sizes:
            timing = out.b0.setdefault(label, Timing("B0", label))
            for r in range(cfg.repeats):
                rows, seconds = _run_b0(server, templates[label], label, cfg.b0_limit)
                timing.add(rows, seconds)
                say(f"backfill B0 {label} repeat {r + 1}/{cfg.repeats}: {rows} invites in {seconds:.2f}s "
                    f"({rows / seconds:.0f}/s)")

        for label in cfg.sizes:
            ceilings = {"C1": out.c1.setdefault(label, Timing("C1", label)),
                        "C2": out.c2.setdefault(label, Timing("C2", label))}
            projects = {"P": (out.p.setdefault(label, Timing("P", label)), out.idle.setdefault(label, []),
                              out.busy.setdefault(label, []), 0.0)}
            if cfg.throttle_factor:
                projects["P throttled"] = (out.pt.setdefault(label, Timing("P throttled", label)),
                                           out.idle_t.setdefault(label, []), out.busy_t.setdefault(label, []),
                                           cfg.throttle_factor)
            paths = (*ceilings, *projects)
            for r in range(cfg.repeats):
                shift = r % len(paths)
                order = paths[shift:] + paths[:shift]  # each path first in turn over the repeats
                for path in order:
                    if path in ceilings:
                        rows, seconds = _run_ceiling(server, templates[label], label, path)
                        ceilings[path].add(rows, seconds)
                    else:
                        timing, idle, busy, factor = projects[path]
                        rows, seconds, idle_stats, busy_stats, phase_stats, writes = _run_p(
                            server, templates[label], label, cfg, factor)
                        timing.add(rows, seconds)
                        idle.append(idle_stats)
                        busy.append(busy_stats)
                        say(f"backfill writer {label} ({path}): idle p99 {idle_stats.p99_ms:.1f}ms, during p99 "
                            f"{busy_stats.p99_ms:.1f}ms max {busy_stats.max_ms:.1f}ms over {busy_stats.ops} ops "
                            f"({busy_stats.lock_timeouts} lock timeouts)")
                        if path == "P":  # W0 right after, with P's WAL volume, batches and phase time
                            w0_stats, w0 = _run_w0(server, templates[label], label, cfg, writes)
                            out.busy_phases.setdefault(label, []).append(phase_stats)
                            out.w0.setdefault(label, []).append(w0_stats)
                            out.w0_runs.setdefault(label, []).append({
                                "p_wal_mb": round(writes.wal_bytes / 2**20, 1), "p_phase_s": round(writes.seconds, 1),
                                "p_batches": writes.batches, "w0_wal_mb": round(w0.wal_bytes / 2**20, 1),
                                "w0_s": w0.seconds, "w0_batches": w0.batches})
                            say(f"backfill writer {label}: during P's phases p99 {phase_stats.p99_ms:.1f}ms, during "
                                f"W0 p99 {w0_stats.p99_ms:.1f}ms (P {writes.wal_bytes / 2**20:.0f} MB WAL in "
                                f"{writes.seconds:.0f}s, W0 {w0.wal_bytes / 2**20:.0f} MB in {w0.seconds:.0f}s)")
                    say(f"backfill {path} {label} repeat {r + 1}/{cfg.repeats}: {rows} invites in {seconds:.2f}s "
                        f"({rows / seconds:.0f}/s)")
    finally:
        for name in templates.values():
            drop_database(server, name)
    out.bars = bars(out)
    return out


def writer_ratios(out: BackfillBench, label: str, throttled: bool = False) -> list[float]:
    """Each trial's writer p99 during P (or P throttled) over its own idle p99 (the same copy, just before)."""
    idle, busy = (out.idle_t, out.busy_t) if throttled else (out.idle, out.busy)
    return [ratio(b.p99_ms, i.p99_ms) for i, b in zip(idle.get(label, []), busy.get(label, []), strict=False)]


def writer_w0_ratios(out: BackfillBench, label: str) -> list[float]:
    """Each trial's writer p99 during P's batched phases over its p99 during that trial's W0."""
    return [ratio(p.p99_ms, w.p99_ms) for p, w in zip(out.busy_phases.get(label, []), out.w0.get(label, []),
                                                       strict=False)]


#: The writer bar against W0 (issue 25) and P's speed bar against C2.
W0_LIMIT = 1.5
C2_LIMIT = 0.9


def bars(out: BackfillBench) -> list[Bar]:
    """The BENCHMARKS.md backfill bars at the largest size C1/C2/P ran at, and the ratios it reports."""
    result: list[Bar] = []
    if not out.p:
        return result
    label = max(out.p, key=lambda k: SIZES.get(k, 0) or out.p[k].median_rows)
    p = out.p[label].rows_per_s
    if label in out.c2:
        r = ratio(p, out.c2[label].rows_per_s)
        result.append(Bar(f"backfill P / C2 rows/s ({label})", f"{r:.2f}×", f"≥ {C2_LIMIT}× (goal 1.0×)", r >= C2_LIMIT))
    if out.w0.get(label):
        ratios = writer_w0_ratios(out, label)
        trials = ", ".join(f"{x:.2f}×" for x in ratios)
        result.append(Bar(f"writer p99 during P's phases / during W0 ({label}), median of the trials' ratios",
                          f"{median(ratios):.2f}× (trials {trials})", f"≤ {W0_LIMIT}×", median(ratios) <= W0_LIMIT))
    for name, busy, throttled in (("P", out.busy, False), ("P throttled", out.busy_t, True)):
        if not busy.get(label):
            continue
        ratios = writer_ratios(out, label, throttled)
        r = median(ratios)
        trials = ", ".join(f"{x:.1f}×" for x in ratios)
        result.append(reported(f"writer p99 during {name} / idle p99 ({label}), median of the trials' ratios",
                               f"{r:.1f}× (trials {trials})", "reported (the bar is against W0: idle measures the disk)"))
        worst = max((s.max_ms for s in busy[label]), default=0.0)
        timeouts = sum(s.lock_timeouts for s in busy[label])
        result.append(Bar(f"writer max wait during {name} ({label})", f"{worst:.0f} ms, {timeouts} lock timeouts",
                          f"< lock_timeout {out.lock_timeout_ms} ms, 0 timeouts",
                          worst < out.lock_timeout_ms and timeouts == 0))
    if label in out.pt and label in out.c2:
        pt = out.pt[label].rows_per_s
        result.append(reported(f"backfill P throttled / C2 rows/s ({label})", f"{ratio(pt, out.c2[label].rows_per_s):.2f}×",
                               f"reported (throttle factor {out.throttle_factor:g}; P / P throttled = "
                               f"{ratio(p, pt):.2f}×)"))
    if label in out.c1:
        result.append(reported(f"backfill P / C1 rows/s ({label})", f"{ratio(p, out.c1[label].rows_per_s):.2f}×",
                               "reported (C1 does less than the job: no users, no chat sessions)"))
    if out.b0:
        b0_label = max(out.b0, key=lambda k: SIZES.get(k, 0))
        b0 = out.b0[b0_label].rows_per_s
        result.append(reported(f"backfill P ({label}) / B0 ({b0_label}) rows/s", f"{ratio(p, b0):.1f}×"))
        for name, timings in (("C1", out.c1), ("C2", out.c2)):
            if label in timings:
                result.append(reported(f"backfill {name} ({label}) / B0 ({b0_label}) rows/s",
                                       f"{ratio(timings[label].rows_per_s, b0):.1f}×",
                                       "reported: the most any path can reach over B0 on this machine"))
    return result
