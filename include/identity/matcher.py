"""One pass of the matcher over one account (docs/contracts/identity.md §2), and the night's / backfill's / on-demand runs.

``run_account``: a ``match_run`` row; the account's live patients extracted with COPY into an owner-only
working directory; DuckDB builds the compared features; the model is the account's own (trained without
labels when it has at least ``min_training_patients`` patients and the pass is full; an incremental pass
reuses the account's last trained model) or the shipped default; Splink scores the blocked pairs; the
pairs at or above the threshold go back with COPY and one statement queues them as ``match:<pair_id>``
review items (never a pair already open, never a decided pair whose patients did not change since). The
run row keeps the model JSON and the report (pairs per blocking rule, threshold, model, queue by kind,
precision / recall against steward decisions). Logs carry ids and counts only.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from include.core import db, pipeline_schema
from include.core.errors import GenascopeError
from include.identity import engine as eng
from include.identity import extract
from include.identity import model as model_mod
from include.identity.config import MatcherSettings
from include.identity.results import DecisionMetrics, MatchReport, MatchRunResult

log = logging.getLogger(__name__)


class MatcherError(GenascopeError, RuntimeError):
    """A matcher pass failed; the message names the account id and the exception type, never data."""


def _q(name: str) -> sa.TextClause:
    return sa.text(extract.sql_file(name))


def decision_metrics(conn: sa.Connection, threshold: float, account_id: str | None = None) -> DecisionMetrics:
    r = conn.execute(_q("decided_metrics"), {"threshold": threshold, "account_id": account_id}).one()
    return DecisionMetrics(int(r.true_positive), int(r.false_positive), int(r.false_negative), int(r.true_negative))


def queue_by_kind(conn: sa.Connection, account_id: str | None = None) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for kind, status, n in conn.execute(_q("queue_by_kind"), {"account_id": account_id}):
        out.setdefault(kind, {})[status] = int(n)
    return out


def _account_model(conn: sa.Connection, account_id: str) -> model_mod.Model | None:
    row = conn.execute(sa.text(
        "SELECT model_name, model FROM patient_pipeline.match_run WHERE account_id = :a AND status = 'done' "
        "AND model IS NOT NULL AND model_name <> :d ORDER BY match_run_id DESC LIMIT 1"),
        {"a": account_id, "d": model_mod.DEFAULT_MODEL_NAME}).first()
    return model_mod.Model(row[0], dict(row[1])) if row else None


def run_account(engine: sa.Engine, account_id: str, *, mode: str = "full", trigger: str = "on_demand",
                dag_run_id: str | None = None, new_patient_ids: Iterable[str] | None = None,
                cfg: MatcherSettings | None = None) -> MatchRunResult:
    """Score one account (``mode`` full, or incremental with ``new_patient_ids``) and queue its pairs."""
    if mode not in ("full", "incremental"):
        raise ValueError("mode must be 'full' or 'incremental'")
    if mode == "incremental" and new_patient_ids is None:
        raise ValueError("an incremental pass needs the new or changed patients' ids")
    cfg = cfg or MatcherSettings.from_env()
    started = time.monotonic()
    new_ids = list(dict.fromkeys(new_patient_ids)) if mode == "incremental" else None
    with engine.connect() as conn:
        pipeline_schema.ensure(conn)
        run_id = int(conn.execute(sa.text(
            "INSERT INTO patient_pipeline.match_run (account_id, mode, trigger, dag_run_id, threshold) "
            "VALUES (:a, :m, :t, :r, :th) RETURNING match_run_id"),
            {"a": account_id, "m": mode, "t": trigger, "r": dag_run_id, "th": cfg.threshold}).scalar_one())
        prior_model = _account_model(conn, account_id) if mode == "incremental" else None
        conn.commit()
    log.info("match run %s: account %s, %s pass (%s)", run_id, account_id, mode, trigger)
    try:
        result = _run(engine, run_id, account_id, mode, trigger, new_ids, prior_model, cfg, started)
    except Exception as exc:
        with engine.begin() as conn:
            conn.execute(sa.text(
                "UPDATE patient_pipeline.match_run SET status = 'failed', finished_at = now() AT TIME ZONE 'utc', "
                "counts = CAST(:c AS jsonb) WHERE match_run_id = :i"),
                {"i": run_id, "c": json.dumps({"error": type(exc).__name__})})
        raise MatcherError(f"match run {run_id} for account {account_id} failed: {type(exc).__name__}") from None
    log.info("match run %s: %d patients, %d pairs scored, %d above %.2f, %d queued, %d suppressed (decided), %.1fs",
             run_id, result.patients, result.pairs_scored, result.above_threshold, result.threshold, result.queued,
             result.suppressed_decided, result.seconds)
    return result


def _run(engine: sa.Engine, run_id: int, account_id: str, mode: str, trigger: str, new_ids: list[str] | None,
         prior_model: model_mod.Model | None, cfg: MatcherSettings, started: float) -> MatchRunResult:
    with eng.session(cfg) as s:
        raw = s.workdir / "raw.csv"
        with db.raw_connection(engine) as pg:
            extract.extract_account(pg, account_id, raw, new_patient_ids=new_ids)
            pg.commit()
        eng.load_raw_csv(s, raw)
        raw.unlink()
        patients = eng.build_records(s)
        new_count = patients if new_ids is None else int(
            s.con.execute("SELECT count(*) FROM records WHERE is_new").fetchall()[0][0])
        if new_ids is None and patients >= cfg.min_training_patients:
            mdl = eng.train(s)
        else:
            mdl = prior_model or model_mod.default_model()
        if patients < 2 or new_count == 0:
            scored = eng.Scored(mdl, False, {n: 0 for n, _ in model_mod.BLOCKING_RULES}, 0, 0)
            s.con.execute("CREATE OR REPLACE TABLE scored (patient_id VARCHAR, candidate_patient_id VARCHAR, "
                          "match_probability DOUBLE, match_weight DOUBLE, evidence VARCHAR)")
        else:
            scored = eng.score(s, mdl, threshold=cfg.threshold, incremental=new_ids is not None)
        out = s.workdir / "scored.csv"
        s.con.execute(f"COPY scored TO '{out}' (HEADER, DELIMITER ',')")
        out.chmod(0o600)
        with db.raw_connection(engine) as pg:
            extract.load_scored(pg, out)
            with pg.cursor() as cur:
                cur.execute(extract.sql_file("write_pairs").replace(":account_id", "%(account_id)s")
                            .replace(":match_run_id", "%(match_run_id)s"),
                            {"account_id": account_id, "match_run_id": run_id})
                queued_row = cur.fetchone()
            pg.commit()
    scored_n, already_open, suppressed, queued = (int(x) for x in queued_row)
    with engine.begin() as conn:
        metrics = decision_metrics(conn, cfg.threshold, account_id)
        by_kind = queue_by_kind(conn, account_id)
        result = MatchRunResult(
            match_run_id=run_id, account_id=account_id, mode=mode, trigger=trigger, model_name=mdl.name,
            trained=mdl.name == model_mod.TRAINED_MODEL_NAME and new_ids is None, threshold=cfg.threshold, patients=patients,
            new_patients=new_count, pairs_by_rule=scored.pairs_by_rule, pairs_scored=scored.pairs_total,
            above_threshold=scored.above_threshold, queued=queued, already_open=already_open,
            suppressed_decided=suppressed, seconds=round(time.monotonic() - started, 2),
            queue_by_kind=by_kind, decisions=metrics)
        counts: dict[str, Any] = {k: v for k, v in result.as_dict().items()
                                  if k in ("patients", "new_patients", "pairs_scored", "above_threshold", "queued",
                                           "already_open", "suppressed_decided", "seconds")}
        conn.execute(sa.text(
            "UPDATE patient_pipeline.match_run SET status = 'done', finished_at = now() AT TIME ZONE 'utc', "
            "model_name = :n, counts = CAST(:c AS jsonb), model = CAST(:m AS jsonb), report = CAST(:r AS jsonb) "
            "WHERE match_run_id = :i"),
            {"i": run_id, "n": mdl.name, "c": json.dumps(counts), "m": json.dumps(mdl.splink_json),
             "r": json.dumps(result.as_dict())})
    _ = scored_n
    return result


def accounts_of_night(engine: sa.Engine, dag_run_id: str) -> dict[str, list[str]]:
    """The accounts a night touched -> the patients it created or changed there (ids)."""
    with engine.connect() as conn:
        pipeline_schema.ensure(conn)
        rows = conn.execute(_q("night_patients"), {"run_id": dag_run_id}).all()
        conn.commit()
    return {r.account_id: list(r.patient_ids) for r in rows}


def run_night(engine: sa.Engine, dag_run_id: str, cfg: MatcherSettings | None = None) -> MatchReport:
    """After the night's merges: an incremental pass per touched account (its new/changed patients)."""
    report = MatchReport("night")
    for account_id, ids in accounts_of_night(engine, dag_run_id).items():
        report.runs.append(run_account(engine, account_id, mode="incremental", trigger="night",
                                       dag_run_id=dag_run_id, new_patient_ids=ids, cfg=cfg))
    return report


def run_accounts(engine: sa.Engine, account_ids: list[str] | None, *, trigger: str, mode: str = "full",
                 dag_run_id: str | None = None, cfg: MatcherSettings | None = None) -> MatchReport:
    """Full passes over the given accounts (None: every account with patients). An account that fails is
    reported by its id and the exception type, and the others still run (a report step never blocks)."""
    if account_ids is None:
        with engine.connect() as conn:
            account_ids = [r[0] for r in conn.execute(sa.text(
                "SELECT DISTINCT account_id FROM patients WHERE account_id IS NOT NULL ORDER BY 1"))]
    report = MatchReport(trigger)
    for account_id in account_ids:
        try:
            report.runs.append(run_account(engine, account_id, mode=mode, trigger=trigger, dag_run_id=dag_run_id,
                                           new_patient_ids=_changed_since_last(engine, account_id)
                                           if mode == "incremental" else None, cfg=cfg))
        except MatcherError as exc:
            report.skipped[account_id] = str(exc)
    return report


def _changed_since_last(engine: sa.Engine, account_id: str) -> list[str]:
    """Patients created or changed since the account's last finished pass (all of them if none)."""
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.text(
            "SELECT p.id FROM patients p WHERE p.account_id = :a AND p.updated_at >= coalesce(("
            "SELECT max(started_at) FROM patient_pipeline.match_run WHERE account_id = :a AND status = 'done'), "
            "'-infinity'::timestamp)"), {"a": account_id})]
