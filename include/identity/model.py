"""The matcher's Fellegi-Sunter model for Splink 5 on DuckDB: features, comparisons, blocking rules.

The records table the model reads (``records`` in DuckDB) is built by :data:`FEATURES_SQL` from the raw
extract (key forms computed by PostgreSQL, docs/contracts/identity.md §2) and the nickname table. Comparisons:

* ``first_name``: exact (term-frequency adjusted), nickname equivalence (the ``nicknames`` package's list),
  Jaro-Winkler >= 0.92 / >= 0.80, first and last name swapped, else.
* ``last_name``: exact (term-frequency adjusted), Jaro-Winkler >= 0.92, a hyphenated / double name that
  contains the other (married names), Jaro-Winkler >= 0.80, swapped, else.
* ``date_of_birth``: exact, one edit or two digits transposed, day and month swapped, same year, else.
* ``email`` (key form): exact for agreeing persons, exact otherwise (a household's shared address:
  relatives must not score high for it, the level is neutral), same local part, else.
* ``phone`` (E.164): exact for agreeing persons, exact otherwise (a shared line, neutral), same last 7
  digits, else.
* ``identifiers``: the same namespace with different values (two records of one source system: evidence
  against), different namespaces (two systems: each has its own MRN, which says nothing against them).

Every level has a stable label: the ``evidence`` of a review item names the level and its weight, never a
value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DEFAULT_MODEL_PATH = Path(__file__).with_name("default_model.json")
DEFAULT_MODEL_NAME = "genascope-default-v1"
#: The name of a model trained (EM) on an account's own patients.
TRAINED_MODEL_NAME = "em-trained"

#: Columns of the raw extract (CSV from PostgreSQL's COPY, see ``extract.py``), in order.
RAW_COLUMNS = {"unique_id": "VARCHAR", "fn": "VARCHAR", "ln": "VARCHAR", "dob": "DATE", "email": "VARCHAR",
               "phone": "VARCHAR", "ids": "VARCHAR", "is_new": "BOOLEAN"}
#: Separators inside ``ids`` (control characters, never in a namespace or an identifier after trim):
#: items ``namespace NS_SEP value`` joined by ``ID_SEP``.
ID_SEP = "\x1f"
NS_SEP = "\x1e"

FEATURES_SQL = f"""
CREATE OR REPLACE TABLE records AS
WITH r AS (
    SELECT unique_id, nullif(fn, '') AS fn, nullif(ln, '') AS ln, dob, nullif(email, '') AS email,
           nullif(regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g'), '') AS phone,
           CASE WHEN ids IS NULL OR ids = '' THEN NULL ELSE string_split(ids, chr({ord(ID_SEP)})) END AS ids,
           coalesce(is_new, false) AS is_new
    FROM raw
), nk AS (
    SELECT r.unique_id, list_sort(list_distinct(list(coalesce(n.formal, r.fn)))) AS fn_nick
    FROM r LEFT JOIN nick n ON n.name = r.fn
    WHERE r.fn IS NOT NULL
    GROUP BY r.unique_id
)
SELECT r.unique_id, r.fn, r.ln, r.is_new,
       list_filter(string_split(regexp_replace(r.ln, '[ -]+', ' ', 'g'), ' '), lambda x: length(x) > 1) AS ln_tokens,
       coalesce(nk.fn_nick, [r.fn]) AS fn_nick,
       coalesce(nk.fn_nick, [r.fn])[1] AS fn_canon,
       strftime(r.dob, '%Y%m%d') AS dob, year(r.dob) AS dob_y, month(r.dob) AS dob_m, day(r.dob) AS dob_d,
       r.email, split_part(r.email, '@', 1) AS email_local,
       r.phone, right(r.phone, 7) AS phone7,
       r.ids, list_transform(r.ids, lambda x: split_part(x, chr({ord(NS_SEP)}), 1)) AS nss
FROM r LEFT JOIN nk USING (unique_id)
"""


def _level(label: str, sql: str, *, null: bool = False, tf: str | None = None) -> dict[str, Any]:
    level: dict[str, Any] = {"sql_condition": sql, "label_for_charts": label}
    if null:
        level["is_null_level"] = True
    if tf:
        level["tf_adjustment_column"] = tf
        level["tf_adjustment_weight"] = 1.0
    return level


#: A shared e-mail or phone is evidence of one person only when the person's own attributes do not
#: contradict it: first names agree (exact, nickname, close spelling) and the birth dates are missing, in the
#: same year or one edit apart. Otherwise it is a household's contact point (twins, spouses, a father and
#: son): that level is neutral (its m is set to its u, weight 0; see ``neutralise_household_levels``).
_PERSON_AGREE = ("((fn_l = fn_r OR list_has_any(fn_nick_l, fn_nick_r) OR jaro_winkler_similarity(fn_l, fn_r) >= 0.88)"
                 " AND (dob_l IS NULL OR dob_r IS NULL OR dob_y_l = dob_y_r OR damerau_levenshtein(dob_l, dob_r) <= 1))")
HOUSEHOLD_LEVELS = {("email", "exact_household"), ("phone", "exact_household"),
                    # swapped names count once (in first_name), not twice
                    ("last_name", "swapped")}

COMPARISONS: list[dict[str, Any]] = [
    {"output_column_name": "first_name", "comparison_description": "first name", "comparison_levels": [
        _level("null", "fn_l IS NULL OR fn_r IS NULL", null=True),
        _level("exact", "fn_l = fn_r", tf="fn"),
        _level("nickname", "list_has_any(fn_nick_l, fn_nick_r)"),
        _level("jaro_winkler_0.92", "jaro_winkler_similarity(fn_l, fn_r) >= 0.92"),
        _level("swapped", "fn_l = ln_r AND ln_l = fn_r"),
        _level("jaro_winkler_0.80", "jaro_winkler_similarity(fn_l, fn_r) >= 0.80"),
        _level("else", "ELSE"),
    ]},
    {"output_column_name": "last_name", "comparison_description": "last name", "comparison_levels": [
        _level("null", "ln_l IS NULL OR ln_r IS NULL", null=True),
        _level("exact", "ln_l = ln_r", tf="ln"),
        _level("jaro_winkler_0.92", "jaro_winkler_similarity(ln_l, ln_r) >= 0.92"),
        _level("hyphenated", "list_has_any(ln_tokens_l, ln_tokens_r)"),
        _level("swapped", "fn_l = ln_r AND ln_l = fn_r"),
        _level("jaro_winkler_0.80", "jaro_winkler_similarity(ln_l, ln_r) >= 0.80"),
        _level("else", "ELSE"),
    ]},
    {"output_column_name": "date_of_birth", "comparison_description": "date of birth", "comparison_levels": [
        _level("null", "dob_l IS NULL OR dob_r IS NULL", null=True),
        _level("exact", "dob_l = dob_r"),
        _level("one_edit_or_transposed", "damerau_levenshtein(dob_l, dob_r) <= 1"),
        _level("day_month_swapped", "dob_y_l = dob_y_r AND dob_m_l = dob_d_r AND dob_d_l = dob_m_r"),
        _level("same_year", "dob_y_l = dob_y_r"),
        _level("else", "ELSE"),
    ]},
    {"output_column_name": "email", "comparison_description": "e-mail (key form)", "comparison_levels": [
        _level("null", "email_l IS NULL OR email_r IS NULL", null=True),
        _level("exact", f"email_l = email_r AND {_PERSON_AGREE}"),
        _level("exact_household", "email_l = email_r"),
        _level("same_local_part", "email_local_l = email_local_r"),
        _level("else", "ELSE"),
    ]},
    {"output_column_name": "phone", "comparison_description": "phone (E.164)", "comparison_levels": [
        _level("null", "phone_l IS NULL OR phone_r IS NULL", null=True),
        _level("exact", f"phone_l = phone_r AND {_PERSON_AGREE}"),
        _level("exact_household", "phone_l = phone_r"),
        _level("last_7_digits", "phone7_l = phone7_r"),
        _level("else", "ELSE"),
    ]},
    {"output_column_name": "identifiers", "comparison_description": "identifiers per namespace",
     "comparison_levels": [
         _level("null", "nss_l IS NULL OR nss_r IS NULL", null=True),
         _level("shared_value", "list_has_any(ids_l, ids_r)"),
         _level("same_namespace_other_value", "list_has_any(nss_l, nss_r)"),
         _level("different_namespaces", "ELSE"),
     ]},
]

#: Blocking rules (name, condition on l/r), in order; a pair counts for the first rule that finds it.
#: Each is an equi-join on one account's records, so pairs grow near-linearly with the account.
BLOCKING_RULES: list[tuple[str, str]] = [
    ("first_and_last_name", "l.fn = r.fn AND l.ln = r.ln"),
    ("dob_and_last_name", "l.dob = r.dob AND l.ln = r.ln"),
    ("dob_and_first_name_group", "l.dob = r.dob AND l.fn_canon = r.fn_canon"),
    ("email", "l.email = r.email"),
    ("phone", "l.phone = r.phone"),
    ("dob_and_names_swapped", "l.dob = r.dob AND l.fn = r.ln"),
    ("first_name_group_last_name_year", "l.fn_canon = r.fn_canon AND l.ln = r.ln AND l.dob_y = r.dob_y"),
]

#: Training blocks for EM (each one leaves the compared fields free).
TRAINING_RULES = ["l.fn = r.fn AND l.ln = r.ln", "l.dob = r.dob", "l.email = r.email"]
#: Deterministic rules to estimate the prior (probability that two random records match).
PRIOR_RULES = ["l.fn = r.fn AND l.ln = r.ln AND l.dob = r.dob", "l.email = r.email AND l.fn = r.fn"]


def blocking_rules(incremental: bool) -> list[dict[str, str]]:
    extra = " AND (l.is_new OR r.is_new)" if incremental else ""
    return [{"blocking_rule": cond + extra, "sql_dialect": "duckdb"} for _, cond in BLOCKING_RULES]


def settings_dict(*, incremental: bool = False, prior: float = 1e-4) -> dict[str, Any]:
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": "unique_id",
        "probability_two_random_records_match": prior,
        "comparisons": COMPARISONS,
        "blocking_rules_to_generate_predictions": blocking_rules(incremental),
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": False,
        "additional_columns_to_retain": [],
        "em_convergence": 0.001,
        "max_iterations": 20,
    }


@dataclass(frozen=True)
class Model:
    """A model: its name and Splink's JSON (settings + trained m/u; no PHI: levels, labels, numbers)."""

    name: str
    splink_json: dict[str, Any]

    def with_blocking(self, incremental: bool) -> dict[str, Any]:
        d = {k: v for k, v in json.loads(json.dumps(self.splink_json)).items() if not k.startswith("genascope_")}
        d["blocking_rules_to_generate_predictions"] = blocking_rules(incremental)
        d["retain_matching_columns"] = True
        d["retain_intermediate_calculation_columns"] = True
        return d


@cache
def default_model() -> Model:
    """The shipped model (trained on the project's own generator, ``python -m include.identity.train``)."""
    data = json.loads(DEFAULT_MODEL_PATH.read_text(encoding="utf-8"))
    return Model(data.get("genascope_model_name", DEFAULT_MODEL_NAME), data)


@cache
def nickname_rows() -> list[tuple[str, str]]:
    """(name, formal name) for every nickname in the ``nicknames`` package, plus (formal, formal)."""
    from nicknames import name_triplets

    rows: set[tuple[str, str]] = set()
    for t in name_triplets():
        if str(getattr(t.relationship, "value", t.relationship)) == "has_nickname":
            rows.add((t.name2.lower(), t.name1.lower()))
            rows.add((t.name1.lower(), t.name1.lower()))
    return sorted(rows)


def neutralise_household_levels(data: dict[str, Any]) -> dict[str, Any]:
    """Set m = u on the household levels (weight 0): a shared contact point alone never makes a pair.
    A level the training never observed gets a floor instead of no value (u 1e-6 for an agreement level
    random pairs never showed, m 1e-4 for a level true pairs never showed)."""
    for comp in data.get("comparisons", []):
        for level in comp.get("comparison_levels", []):
            if level.get("is_null_level"):
                continue
            if level.get("u_probability") is None:
                level["u_probability"] = 1e-6
            if level.get("m_probability") is None:
                level["m_probability"] = 1e-4
            if (comp.get("output_column_name"), level.get("label_for_charts")) in HOUSEHOLD_LEVELS:
                if level.get("u_probability") is not None:
                    level["m_probability"] = level["u_probability"]
                    level["fix_m_probability"] = True
    return data
