"""The import benchmark of BENCHMARKS.md: B2, C0, C1 and P side by side on copies of one template.

The template holds a moderate legacy set, migrated to ``20250530_finalize_invites`` (patients exist to
match); the bench source's account is the one with most patients. Clinic CSVs at the chosen sizes come
from ``include.seed.write_clinic_csv`` (5% matching that account's patients, 0.5% in-file duplicates, 1%
defective). Per repeat every path runs on a fresh copy, in a rotating order; P runs in a child process
at every CSV size, so its peak RSS at M and at L can be compared.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from include import seed as seeder
from include.backfill import BackfillOptions, run_all
from include.bench import import_paths
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
    ratio,
    reported,
    say,
    unique_name,
    vacuum_analyze,
)
from include.core import alembic_driver, pipeline_schema, settings
from include.core.errors import GenascopeError

RSS_LIMIT_MB = 600.0


class ImportCountsMismatch(GenascopeError, RuntimeError):
    """P's counts did not reconcile (rows read != inserted + updated + unchanged + duplicates + quarantined)."""


@dataclass
class ImportConfig:
    csv_sizes: dict[str, int]  # label -> CSV data rows; P runs at each, C0/C1 at the largest
    template_invites: int = 20_000
    b2_rows: int = 100_000  # B2 reads at most this many rows of the smallest CSV
    repeats: int = 3
    seed: int = 42


@dataclass
class ImportBench:
    postgres: str
    account_rows: int = 0  # patients of the bench account in the template
    csv: dict[str, dict[str, object]] = field(default_factory=dict)
    b2: dict[str, Timing] = field(default_factory=dict)
    c0: dict[str, Timing] = field(default_factory=dict)
    c1: dict[str, Timing] = field(default_factory=dict)
    p: dict[str, Timing] = field(default_factory=dict)
    bars: list[Bar] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"account_patients": self.account_rows, "csv": self.csv,
                **{name: {k: v.as_dict() for k, v in getattr(self, name).items()} for name in ("b2", "c0", "c1", "p")},
                "bars": [b.__dict__ for b in self.bars]}


def build_template(server: Server, invites: int, seed: int) -> tuple[str, str, int]:
    """Seeded legacy set, migrated and backfilled to finalize; (template name, bench account id, its patients)."""
    name = unique_name("tpl_import")
    uri = create_database(server, name)
    watch = Stopwatch()
    engine = engine_for(uri)
    try:
        with engine.connect() as conn:
            alembic_driver.upgrade(conn, settings.REV_BASELINE)
        seeder.generate(uri, invites, seed)
        with engine.connect() as conn:
            alembic_driver.upgrade(conn, settings.REV_UPDATE_PATIENTS)
            run_all(conn, BackfillOptions(run_id="bench-import-template"))
            alembic_driver.upgrade(conn, settings.REV_FINALIZE_INVITES)
            pipeline_schema.ensure(conn)
            account, patients = conn.exec_driver_sql(
                "SELECT account_id, count(*) FROM patients WHERE account_id IS NOT NULL "
                "GROUP BY account_id ORDER BY count(*) DESC, account_id LIMIT 1").one()
            conn.commit()
    finally:
        engine.dispose()
    vacuum_analyze(uri)
    say(f"import template: {invites} invites seeded, migrated to finalize in {watch.seconds:.1f}s; "
        f"bench account has {patients} patients")
    return name, str(account), int(patients)


def run(server: Server, cfg: ImportConfig, work_dir: Path | None = None) -> ImportBench:
    out = ImportBench(postgres=server.version)
    work = Path(tempfile.mkdtemp(prefix="gs_bench_csv_", dir=work_dir))
    template = None
    try:
        template, account, out.account_rows = build_template(server, cfg.template_invites, cfg.seed)
        files: dict[str, Path] = {}
        for label, rows in sorted(cfg.csv_sizes.items(), key=lambda kv: kv[1]):
            watch = Stopwatch()
            files[label] = work / f"clinic_{label}.csv"
            summary = seeder.write_clinic_csv(files[label], rows, cfg.seed, match_uri=server.uri(template),
                                              match_account_id=account)
            out.csv[label] = {"rows": summary.rows, "matching": summary.matching, "duplicates": summary.duplicates,
                              "defective": sum(summary.defective.values()),
                              "bytes": files[label].stat().st_size}
            say(f"import CSV {label}: {summary.rows} rows ({summary.matching} matching, {summary.duplicates} "
                f"duplicates, {sum(summary.defective.values())} defective) written in {watch.seconds:.1f}s")
        largest = max(files, key=lambda k: cfg.csv_sizes[k])
        smallest = min(files, key=lambda k: cfg.csv_sizes[k])
        b2_label = f"{smallest}" if cfg.csv_sizes[smallest] <= cfg.b2_rows else f"{smallest} (first {cfg.b2_rows})"

        trials: list[tuple[str, str]] = [("C0", largest), ("C1", largest), ("B2", smallest)]
        trials += [("P", label) for label in sorted(files, key=lambda k: cfg.csv_sizes[k])]
        for r in range(cfg.repeats):
            rotated = trials[r % len(trials):] + trials[:r % len(trials)]
            for path, label in rotated:
                with database_copy(server, template, f"{path.lower()}_{label}") as uri:
                    if path == "C0":
                        rows, seconds = import_paths.copy_c0(uri, files[label])
                        out.c0.setdefault(label, Timing("C0", label)).add(rows, seconds)
                        note = ""
                    elif path == "C1":
                        rows, seconds, inserted = import_paths.copy_insert_c1(uri, files[label], account)
                        out.c1.setdefault(label, Timing("C1", label)).add(rows, seconds)
                        note = f", {inserted} inserted"
                    elif path == "B2":
                        rows, seconds, inserted = import_paths.naive_b2(uri, files[label], account, cfg.b2_rows)
                        timing = out.b2.setdefault(b2_label, Timing("B2", b2_label))
                        timing.add(rows, seconds)
                        note = f", {inserted} inserted"
                    else:
                        p = import_paths.project_p(uri, files[label], account)
                        if not p.counts_balance or p.result.get("status") != "done":
                            raise ImportCountsMismatch(
                                f"P at {label}: status {p.result.get('status')}, counts do not reconcile; "
                                "run tests/imports to find out why")
                        rows, seconds = p.rows, p.seconds
                        timing = out.p.setdefault(label, Timing("P", label))
                        timing.add(rows, seconds)
                        timing.extra.setdefault("peak_rss_mb", []).append(p.peak_rss_mb)
                        timing.extra.setdefault("rss_before_import_mb", []).append(p.rss_before_import_mb)
                        timing.extra["counts"] = {k: p.result.get(k) for k in (
                            "rows_read", "inserted", "updated", "unchanged", "duplicates", "quarantined",
                            "review_items")}
                        note = f", peak RSS {p.peak_rss_mb:.0f} MB, {p.result.get('inserted')} inserted"
                say(f"import {path} {label} repeat {r + 1}/{cfg.repeats}: {rows} rows in {seconds:.2f}s "
                    f"({rows / seconds:.0f}/s{note})")
    finally:
        if template:
            drop_database(server, template)
        shutil.rmtree(work, ignore_errors=True)
    out.bars = bars(out, cfg)
    return out


def peak_rss(t: Timing) -> float:
    return max(t.extra.get("peak_rss_mb", [0.0]))  # type: ignore[arg-type]


def bars(out: ImportBench, cfg: ImportConfig) -> list[Bar]:
    result: list[Bar] = []
    if not out.p:
        return result
    label = max(out.p, key=lambda k: cfg.csv_sizes[k])
    p = out.p[label].rows_per_s
    if label in out.c1:
        r = ratio(p, out.c1[label].rows_per_s)
        result.append(Bar(f"import P / C1 rows/s ({label})", f"{r:.2f}×", "≥ 0.5×", r >= 0.5))
    for b2_label, b2 in out.b2.items():
        r = ratio(p, b2.rows_per_s)
        result.append(reported(f"import P ({label}) / B2 ({b2_label}) rows/s", f"{r:.1f}×"))
        if label in out.c1:
            result.append(reported(f"import C1 ({label}) / B2 ({b2_label}) rows/s",
                                   f"{ratio(out.c1[label].rows_per_s, b2.rows_per_s):.1f}×",
                                   "reported: the most any path can reach over B2 on this machine"))
    if "M" in out.p and "L" in out.p:
        m, big = peak_rss(out.p["M"]), peak_rss(out.p["L"])
        r = ratio(big, m)
        result.append(Bar("import P peak RSS L / M", f"{big:.0f} / {m:.0f} MB = {r:.2f}×", "≤ 1.5×", r <= 1.5))
    top = peak_rss(out.p[label])
    result.append(Bar(f"import P peak RSS ({label})", f"{top:.0f} MB", f"< {RSS_LIMIT_MB:.0f} MB",
                      top < RSS_LIMIT_MB))
    return result


__all__ = ["ImportBench", "ImportConfig", "ImportCountsMismatch", "SIZES", "build_template", "run"]
