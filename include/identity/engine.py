"""Splink 5 on an in-process DuckDB: one owner-only working directory per run, removed afterwards.

``session(settings)`` opens DuckDB with its memory bounded (``memory_limit``), its spill files in an
owner-only (0700) temporary directory, extension auto-install and auto-load off (nothing downloads), and
removes the directory (the raw extract holds PHI) whatever happens. ``score(...)`` trains (EM) or loads a
model and returns the scored pairs above the threshold, with per-rule pair counts.

splink and duckdb are imported inside the functions: importing splink takes seconds.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from include.identity import model as model_mod
from include.identity.config import MatcherSettings

log = logging.getLogger(__name__)


@dataclass
class Session:
    con: Any  # duckdb.DuckDBPyConnection
    workdir: Path


@contextmanager
def session(cfg: MatcherSettings) -> Iterator[Session]:
    import duckdb

    root = cfg.work_root
    if root is not None:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
    workdir = Path(tempfile.mkdtemp(prefix="genascope-match-", dir=root))  # mkdtemp: mode 0700
    workdir.chmod(0o700)
    con = None
    try:
        con = duckdb.connect(":memory:", config={
            "autoinstall_known_extensions": False, "autoload_known_extensions": False,
            "memory_limit": f"{cfg.memory_mb}MB", "threads": cfg.threads,
            "temp_directory": str(workdir / "spill"), "preserve_insertion_order": False})
        con.execute("SET enable_progress_bar = false")
        yield Session(con, workdir)
    finally:
        if con is not None:
            con.close()
        shutil.rmtree(workdir, ignore_errors=True)


def load_raw_csv(s: Session, path: Path) -> int:
    """The extract (CSV written by PostgreSQL's COPY) into DuckDB's ``raw`` table; returns its row count."""
    cols = ", ".join(f"'{k}': '{v}'" for k, v in model_mod.RAW_COLUMNS.items())
    s.con.execute(f"CREATE OR REPLACE TABLE raw AS SELECT * FROM read_csv(?, header = false, columns = {{{cols}}}, "
                  "delim = ',', quote = '\"', escape = '\"', nullstr = '', auto_detect = false)", [str(path)])
    return int(s.con.execute("SELECT count(*) FROM raw").fetchall()[0][0])


def build_records(s: Session) -> int:
    s.con.execute("CREATE OR REPLACE TABLE nick (name VARCHAR, formal VARCHAR)")
    s.con.executemany("INSERT INTO nick VALUES (?, ?)", model_mod.nickname_rows())
    s.con.execute(model_mod.FEATURES_SQL)
    s.con.execute("DROP TABLE raw")
    return int(s.con.execute("SELECT count(*) FROM records").fetchall()[0][0])


@dataclass
class Scored:
    """What one scoring pass produced (inside DuckDB: table ``scored``; counts here)."""

    model: model_mod.Model
    trained: bool
    pairs_by_rule: dict[str, int]
    pairs_total: int
    above_threshold: int


def _quiet_splink() -> None:
    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.ERROR)


def train(s: Session, *, em: bool = False) -> model_mod.Model:
    """Unsupervised training on the account: the prior from deterministic rules and u by random sampling
    (what differs between accounts: name frequencies, shared contact points); with ``em`` also m by EM over
    the training blocks, starting from the default model's m. On the project's evaluation EM lowered the
    precision (twins and households pull m towards them), so m stays the default model's unless asked
    (docs/identity.md); the household levels stay neutral either way."""
    from splink import DuckDBAPI, Linker

    _quiet_splink()
    db_api = DuckDBAPI(s.con)
    df = db_api.register("records")
    linker = Linker(df, model_mod.default_model().with_blocking(False), log_level=None)
    linker.training.estimate_probability_two_random_records_match(model_mod.PRIOR_RULES, recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=2_000_000, seed=1)
    for rule in model_mod.TRAINING_RULES if em else ():
        linker.training.estimate_parameters_using_expectation_maximisation(rule, estimate_without_term_frequencies=True)
    data = model_mod.neutralise_household_levels(linker.misc.save_model_to_json())
    data["genascope_model_name"] = model_mod.TRAINED_MODEL_NAME
    return model_mod.Model(model_mod.TRAINED_MODEL_NAME, json.loads(json.dumps(data, default=str)))


def score(s: Session, mdl: model_mod.Model, *, threshold: float, incremental: bool) -> Scored:
    """Score the blocked pairs with ``mdl``; table ``scored`` holds the pairs at or above ``threshold``."""
    from splink import DuckDBAPI, Linker

    _quiet_splink()
    db_api = DuckDBAPI(s.con)
    df = db_api.register("records")
    linker = Linker(df, mdl.with_blocking(incremental), log_level=None)
    for col in ("fn", "ln"):
        linker.table_management.compute_tf_table(col)
    pred = linker.inference.predict()
    name = pred.physical_name
    rules = [n for n, _ in model_mod.BLOCKING_RULES]
    by_rule = {n: 0 for n in rules}
    for key, n in s.con.execute(f"SELECT match_key, count(*) FROM {name} GROUP BY 1").fetchall():
        by_rule[rules[int(key)]] = int(n)
    total = sum(by_rule.values())
    labels = _labels(mdl)
    pred_cols = {r[0] for r in s.con.execute(f"DESCRIBE {name}").fetchall()}
    gamma_cols = [c["output_column_name"] for c in model_mod.COMPARISONS]
    parts = ", ".join(f"{c} := {{'level': {_label_case(c, labels[c])}, 'weight': round({_weight(c, pred_cols)}, 2)}}"
                      for c in gamma_cols)
    s.con.execute(f"""
        CREATE OR REPLACE TABLE scored AS
        SELECT least(unique_id_l, unique_id_r) AS patient_id,
               greatest(unique_id_l, unique_id_r) AS candidate_patient_id,
               match_probability, match_weight, CAST(to_json(struct_pack({parts})) AS VARCHAR) AS evidence
        FROM {name} WHERE match_probability >= ?""", [threshold])
    above = int(s.con.execute("SELECT count(*) FROM scored").fetchall()[0][0])
    pred.drop_table_from_database_and_remove_from_cache()
    return Scored(mdl, mdl.name == model_mod.TRAINED_MODEL_NAME, by_rule, total, above)


def _labels(mdl: model_mod.Model) -> dict[str, list[tuple[int, str]]]:
    out: dict[str, list[tuple[int, str]]] = {}
    for c in model_mod.COMPARISONS:
        levels = [lv for lv in c["comparison_levels"] if not lv.get("is_null_level")]
        n = len(levels)
        out[c["output_column_name"]] = [(n - 1 - i, lv["label_for_charts"]) for i, lv in enumerate(levels)]
    return out


def _label_case(col: str, labels: list[tuple[int, str]]) -> str:
    whens = " ".join(f"WHEN {g} THEN '{lab}'" for g, lab in labels)
    return f"CASE gamma_{col} WHEN -1 THEN 'null' {whens} END"


def _weight(col: str, cols: set[str]) -> str:
    tf = f"mw_tf_adj_{col}"
    return f"mw_{col} + coalesce({tf}, 0)" if tf in cols else f"mw_{col}"


def train_from_labels(s: Session, person_of: dict[str, int], *, prior: float) -> model_mod.Model:
    """The default model: u by random sampling, m from the generator's labels (``person_of``: record -> person)."""
    from splink import DuckDBAPI, Linker

    _quiet_splink()
    s.con.execute("CREATE OR REPLACE TABLE person_map (unique_id VARCHAR, person_id BIGINT)")
    s.con.executemany("INSERT INTO person_map VALUES (?, ?)", list(person_of.items()))
    s.con.execute("CREATE OR REPLACE TABLE records_labelled AS SELECT r.*, m.person_id FROM records r "
                  "JOIN person_map m USING (unique_id)")
    db_api = DuckDBAPI(s.con)
    df = db_api.register("records_labelled")
    linker = Linker(df, model_mod.settings_dict(prior=prior), log_level=None)
    linker.training.estimate_u_using_random_sampling(max_pairs=5_000_000, seed=1)
    linker.training.estimate_m_from_label_column("person_id")
    data = model_mod.neutralise_household_levels(linker.misc.save_model_to_json())
    s.con.execute("DROP TABLE records_labelled")
    return model_mod.Model(model_mod.DEFAULT_MODEL_NAME, json.loads(json.dumps(data, default=str)))
