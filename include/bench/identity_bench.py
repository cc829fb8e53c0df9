"""``make bench-identity`` (and the "Identity" section of BENCHMARKS.md): the matcher judged and timed.

1. **Evaluation** on the project's own generated set (include/identity/generator.py: people in two or three
   sources with one realistic slip per copy; hard negatives: twins, father and son, spouses sharing an
   e-mail, common names): pairs generated, precision / recall / F1 at the review threshold, hard negatives
   above it by kind; for the project's model (the shipped default, and u trained on the set) next to Splink
   with its library's default comparisons (names, date of birth, e-mail, phone) trained the usual way
   (prior from deterministic rules, u by random sampling, m by EM) on the same data and blocking.
2. **Scale**: a database with N generated patients of one account (COPY), then the full pass and an
   incremental pass of K new patients against it, each in a spawned child (its peak RSS is its own).

Run late and alone on a shared machine: ``make bench-identity`` (BENCH_ARGS="--patients 1000000"). Counts,
seconds and MB only: nothing here prints a record.
"""

from __future__ import annotations

import argparse
import io
import resource
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from include.bench import report
from include.bench.harness import (
    Machine,
    connect_server,
    create_database,
    drop_database,
    now_utc,
    run_in_child,
    say,
    unique_name,
)
from include.core import settings

HEADING = "## Identity (make bench-identity)"
ACCOUNT = "acct-bench-identity"


# ---------------------------------------------------------------------------------------------- evaluation


def _metrics(pred: set[tuple[str, str]], truth: set[tuple[str, str]], hard: dict[tuple[str, str], str],
             generated: int) -> dict[str, Any]:
    tp = len(pred & truth)
    p = tp / len(pred) if pred else 0.0
    r = tp / len(truth) if truth else 0.0
    by_kind: dict[str, int] = {}
    for k in pred:
        if k in hard:
            by_kind[hard[k]] = by_kind.get(hard[k], 0) + 1
    return {"pairs_generated": generated, "above_threshold": len(pred), "true_pairs": len(truth),
            "precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
            "hard_negatives_above": by_kind}


def _splink_default(s: Any, threshold: float) -> tuple[set[tuple[str, str]], int]:
    """Splink with its comparison library's defaults on the same records and blocking."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    s.con.execute("CREATE OR REPLACE TABLE plain AS SELECT unique_id, fn AS first_name, ln AS surname, "
                  "strptime(dob, '%Y%m%d')::DATE AS dob, email, phone FROM records")
    api = DuckDBAPI(s.con)
    df = api.register("plain")
    blocking = [block_on("first_name", "surname"), block_on("dob", "surname"), block_on("dob", "first_name"),
                block_on("email"), block_on("phone")]
    st = SettingsCreator(link_type="dedupe_only", comparisons=[
        cl.NameComparison("first_name"), cl.NameComparison("surname"),
        cl.DateOfBirthComparison("dob", input_is_string=False), cl.EmailComparison("email"),
        cl.ExactMatch("phone")], blocking_rules_to_generate_predictions=blocking)
    linker = Linker(df, st, log_level=None)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("first_name", "surname", "dob"), block_on("email")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=2_000_000, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("first_name", "surname"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    pred = linker.inference.predict()
    rows = s.con.execute(f"SELECT least(unique_id_l, unique_id_r), greatest(unique_id_l, unique_id_r), "
                         f"match_probability FROM {pred.physical_name}").fetchall()
    return {(a, b) for a, b, p in rows if p >= threshold}, len(rows)


def evaluate(people: int = 40_000, seed: int = 2024, threshold: float | None = None) -> dict[str, Any]:
    from include.identity import engine
    from include.identity import model as model_mod
    from include.identity.config import DEFAULT_THRESHOLD, MatcherSettings
    from include.identity.generator import Generator
    from include.identity.synthetic import write_raw_csv

    threshold = threshold if threshold is not None else DEFAULT_THRESHOLD
    gen = Generator(seed).generate(people)
    out: dict[str, Any] = {"people": people, "records": len(gen.records), "seed": seed, "threshold": threshold,
                           "generator_counts": gen.counts, "models": {}}
    with engine.session(MatcherSettings()) as s:
        path = s.workdir / "raw.csv"
        write_raw_csv(gen.records, path)
        engine.load_raw_csv(s, path)
        engine.build_records(s)
        for label, make in (("genascope default model", model_mod.default_model),
                            ("genascope, u trained on the set", lambda: engine.train(s))):
            t = time.perf_counter()
            mdl = make()
            sc = engine.score(s, mdl, threshold=threshold, incremental=False)
            pred = {(a, b) for a, b in s.con.execute("SELECT patient_id, candidate_patient_id FROM scored").fetchall()}
            out["models"][label] = {**_metrics(pred, gen.true_pairs, gen.hard_negative_pairs, sc.pairs_total),
                                    "pairs_by_rule": sc.pairs_by_rule, "seconds": round(time.perf_counter() - t, 1)}
            say(f"identity eval {label}: {out['models'][label]['precision']} / {out['models'][label]['recall']}")
        t = time.perf_counter()
        pred, generated = _splink_default(s, threshold)
        out["models"]["Splink defaults (library comparisons, EM)"] = {
            **_metrics(pred, gen.true_pairs, gen.hard_negative_pairs, generated),
            "seconds": round(time.perf_counter() - t, 1)}
    return out


# ---------------------------------------------------------------------------------------------- scale


def psycopg_connect(uri: str) -> Any:
    import psycopg

    from include.core import db

    return psycopg.connect(db.to_libpq_uri(uri), autocommit=True)


def _unique_keys(records: list) -> list:
    """The patients table allows one patient per (account, e-mail key, first-name key): a generated record
    that would collide (another person, same address and first name) is stored without its e-mail."""
    from dataclasses import replace

    seen: set[tuple[str, str]] = set()
    out = []
    for r in records:
        key = ((r.email or "").strip().lower(), r.first_name.strip().lower())
        if r.email and key in seen:
            r = replace(r, email=None)
        elif r.email:
            seen.add(key)
        out.append(r)
    return out


def _load_patients(uri: str, records: list, new_ids: set[str]) -> None:
    """COPY generated patients (and their identifiers) into one account; ``new_ids`` are held back."""
    import psycopg

    from include.core import db

    with psycopg.connect(db.to_libpq_uri(uri)) as conn, conn.cursor() as cur:
        with cur.copy("COPY patients (id, account_id, email, first_name, last_name, phone, date_of_birth, status, "
                      "created_at, updated_at) FROM STDIN") as cp:
            for r in records:
                if r.record_id not in new_ids:
                    cp.write_row((r.record_id, ACCOUNT, r.email, r.first_name, r.last_name, r.phone, r.date_of_birth,
                                  "pending", "2025-01-01", "2025-01-01"))
        with cur.copy("COPY patient_pipeline.patient_identifier (account_id, namespace, value, patient_id, origin) "
                      "FROM STDIN") as cp:
            for r in records:
                if r.record_id not in new_ids:
                    for ns, v in r.identifiers:
                        cp.write_row((ACCOUNT, ns, v, r.record_id, "bench"))
        conn.commit()


def _add_new(uri: str, records: list) -> None:
    import psycopg

    from include.core import db

    with psycopg.connect(db.to_libpq_uri(uri)) as conn, conn.cursor() as cur:
        with cur.copy("COPY patients (id, account_id, email, first_name, last_name, phone, date_of_birth, status) "
                      "FROM STDIN") as cp:
            for r in records:
                cp.write_row((r.record_id, ACCOUNT, r.email, r.first_name, r.last_name, r.phone, r.date_of_birth,
                              "pending"))
        with cur.copy("COPY patient_pipeline.patient_identifier (account_id, namespace, value, patient_id, origin) "
                      "FROM STDIN") as cp:
            for r in records:
                for ns, v in r.identifiers:
                    cp.write_row((ACCOUNT, ns, v, r.record_id, "bench"))
        conn.commit()


def _pass_child(out: Any, uri: str, mode: str, new_ids: list[str] | None, memory_mb: int) -> None:
    try:
        from include.core import db
        from include.identity import matcher
        from include.identity.config import MatcherSettings

        engine = db.create_engine(uri)
        started = time.perf_counter()
        res = matcher.run_account(engine, ACCOUNT, mode=mode, trigger="on_demand", new_patient_ids=new_ids,
                                  cfg=MatcherSettings(memory_mb=memory_mb))
        seconds = time.perf_counter() - started
        engine.dispose()
        out.put({"ok": True, "seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                 "patients": res.patients, "new_patients": res.new_patients, "pairs_scored": res.pairs_scored,
                 "above_threshold": res.above_threshold, "queued": res.queued, "model": res.model_name,
                 "pairs_by_rule": res.pairs_by_rule})
    except BaseException as exc:  # noqa: BLE001 - the parent reports the type only (no values)
        out.put({"ok": False, "error": type(exc).__name__})


def scale(server_url: str | None, patients: int, incremental: int, seed: int, memory_mb: int) -> dict[str, Any]:
    from include.core import alembic_driver, db, pipeline_schema
    from include.identity.generator import Generator

    server = connect_server(server_url)
    say(f"identity scale: generating {patients + incremental} patients")
    people = int((patients + incremental) / 1.27) + 1000
    records = _unique_keys(Generator(seed).generate(people).records[: patients + incremental])
    new = records[patients:]
    new_ids = {r.record_id for r in new}
    name = unique_name("identity")
    uri = create_database(server, name)
    try:
        engine = db.create_engine(uri)
        with engine.connect() as conn:
            alembic_driver.upgrade(conn, settings.REV_UPDATE_PATIENTS)
            pipeline_schema.ensure(conn)
            conn.exec_driver_sql(f"INSERT INTO accounts (id, name) VALUES ('{ACCOUNT}', 'bench')")
            conn.commit()
        engine.dispose()
        t = time.perf_counter()
        _load_patients(uri, records, new_ids)
        with psycopg_connect(uri) as c:
            c.execute("ANALYZE patients")
        say(f"identity scale: {patients} patients loaded in {time.perf_counter() - t:.0f}s; full pass")
        full = run_in_child(_pass_child, (uri, "full", None, memory_mb), name="bench-identity-full", timeout_s=3600)
        say(f"identity scale full: {full}")
        _add_new(uri, new)
        inc = run_in_child(_pass_child, (uri, "incremental", sorted(new_ids), memory_mb), name="bench-identity-inc",
                           timeout_s=3600)
        say(f"identity scale incremental: {inc}")
    finally:
        drop_database(server, name)
    return {"patients": patients, "incremental": incremental, "memory_mb": memory_mb, "full": full,
            "incremental_pass": inc, "server": f"PostgreSQL {server.version} ({server.kind})"}


# ---------------------------------------------------------------------------------------------- report


def render(ev: dict[str, Any] | None, sc: dict[str, Any] | None, meta: dict[str, Any]) -> list[str]:
    lines = [HEADING, "", f"Measured {meta['when']} on {meta['machine']} with `{meta['command']}`. "
             "The machine was shared with other jobs (2 cores, loaded): times are upper bounds.", ""]
    if ev:
        lines += [f"**Evaluation** on the project's generated set (seed {ev['seed']}): {ev['people']:,} people, "
                  f"{ev['records']:,} patients, {ev['models'][next(iter(ev['models']))]['true_pairs']:,} true pairs "
                  f"(copies the exact e-mail + first-name key would have merged are not patients: "
                  f"{ev['generator_counts'].get('exact_key', 0):,}); review threshold {ev['threshold']}.", "",
                  "| model | pairs scored | above threshold | precision | recall | F1 | hard negatives above | seconds |",
                  "|---|---:|---:|---:|---:|---:|---|---:|"]
        for label, m in ev["models"].items():
            hard = ", ".join(f"{k} {v}" for k, v in sorted(m["hard_negatives_above"].items())) or "none"
            lines.append(f"| {label} | {m['pairs_generated']:,} | {m['above_threshold']:,} | {m['precision']:.4f} | "
                         f"{m['recall']:.4f} | {m['f1']:.4f} | {hard} | {m['seconds']} |")
        hn = {k: v for k, v in ev["generator_counts"].items() if k.startswith("hard:")}
        lines += ["", "Hard negatives in the set: " + ", ".join(f"{k[5:]} {v:,}" for k, v in sorted(hn.items())) + ".",
                  ""]
        first = next(iter(ev["models"].values()))
        if "pairs_by_rule" in first:
            lines += ["Pairs per blocking rule (default model): "
                      + ", ".join(f"{k} {v:,}" for k, v in first["pairs_by_rule"].items()) + ".", ""]
    if sc:
        lines += [f"**Scale** ({sc['server']}; one account; incremental = {sc['incremental']:,} new patients "
                  f"scored against the whole account; DuckDB memory_limit {sc['memory_mb']} MB):", "",
                  "| pass | patients | new | pairs scored | above threshold | queued | model | seconds | peak RSS MB | bar |",
                  "|---|---:|---:|---:|---:|---:|---|---:|---:|---|"]
        for label, r, limit in (("full", sc["full"], 900), ("incremental", sc["incremental_pass"], 120)):
            if not r.get("ok"):
                lines.append(f"| {label} | failed: {r.get('error')} | | | | | | | | |")
                continue
            ok = r["seconds"] <= limit and r["peak_rss_mb"] <= 3072
            lines.append(f"| {label} | {r['patients']:,} | {r['new_patients']:,} | {r['pairs_scored']:,} | "
                         f"{r['above_threshold']:,} | {r['queued']:,} | {r['model']} | {r['seconds']:.0f} | "
                         f"{r['peak_rss_mb']:.0f} | ≤ {limit} s, ≤ 3 GB: {'met' if ok else 'NOT met'} |")
        lines.append("")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m include.bench.identity_bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=40_000, help="evaluation: generated people")
    ap.add_argument("--patients", type=int, default=1_000_000, help="scale: patients of the account (0 = skip)")
    ap.add_argument("--incremental", type=int, default=10_000)
    ap.add_argument("--memory-mb", type=int, default=1536)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--no-eval", action="store_true")
    ap.add_argument("--server-url", default=None)
    ap.add_argument("--out", type=Path, default=settings.PROJECT_ROOT / "BENCHMARKS.md")
    a = ap.parse_args(argv)
    ev = None if a.no_eval else evaluate(a.people, a.seed)
    sc = scale(a.server_url, a.patients, a.incremental, a.seed + 1, a.memory_mb) if a.patients else None
    m = Machine.current()
    meta = {"when": now_utc(), "machine": f"{m.cores} cores, {m.memory_gib} GiB, Python {m.python}",
            "command": "python -m include.bench.identity_bench " + shlex.join(argv if argv is not None else sys.argv[1:])}
    lines = render(ev, sc, meta)
    report.replace_section(a.out, lines)
    buf = io.StringIO()
    buf.write("\n".join(lines))
    print(buf.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
