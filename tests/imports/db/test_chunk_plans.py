"""A chunk of the merge looks identifiers up by key, whatever the table's size (the look-ups are correlated
sub-plans or an index scan on the chunk's array, so a generic plan cannot turn them into scans either (include/sql/imports/prune_identifiers.sql, merge_identifiers.sql): a scan of
the account's namespace per chunk made a 1,000,000-row import quadratic (BENCHMARKS.md, Import)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from include.imports import staging

NAMESPACE, ACCOUNT = "chunk-plan-test", "acct-chunk-plans"


def _seed(conn: sa.Connection, identifiers: int, chunk: int) -> None:
    conn.execute(sa.text("INSERT INTO patient_pipeline.patient_identifier (account_id, namespace, value, patient_id, "
                         "origin) SELECT :a, :n, 'X' || g, 'p' || g, 'test' FROM generate_series(1, :k) g"),
                 {"a": ACCOUNT, "n": NAMESPACE, "k": identifiers})
    conn.execute(sa.text("INSERT INTO patient_pipeline.import_decision (file_id, record_no, disposition, patient_id, "
                         "external_id) SELECT -7, g, 'insert', 'q' || g, 'Y' || g FROM generate_series(1, :k) g"),
                 {"k": chunk})
    conn.execute(sa.text("ANALYZE patient_pipeline.patient_identifier"))
    conn.execute(sa.text("ANALYZE patient_pipeline.import_decision"))


def _nodes(node: dict) -> list[dict]:
    return [node, *(n for child in node.get("Plans", []) for n in _nodes(child))]


def _plan(conn: sa.Connection, name: str) -> list[dict]:
    text = staging.sql(name)
    params = {"file_id": -7, "lo": 1, "hi": 10_000, "account_id": ACCOUNT, "namespace": NAMESPACE,
              "origin": "import:-7"}
    doc = conn.execute(sa.text("EXPLAIN (FORMAT JSON) " + text), params).scalar_one()
    return _nodes(doc[0]["Plan"])


@pytest.mark.parametrize("identifiers", [200, 200_000])  # early in a big import, and late
def test_the_chunks_identifier_statements_look_up_by_key(import_db: sa.Engine, identifiers):
    with import_db.connect() as conn:
        with conn.begin():
            _seed(conn, identifiers=identifiers, chunk=10_000)
        tx = conn.begin()
        try:
            for name in ("prune_identifiers", "merge_identifiers"):
                nodes = _plan(conn, name)
                # the chunk is read once, never once per cross-reference row
                decision = [n for n in nodes if n.get("Relation Name") == "import_decision"]
                assert len(decision) == 1 and decision[0].get("Parent Relationship") in (None, "InitPlan", "Outer"), \
                    (name, [n.get("Parent Relationship") for n in decision])
                if identifiers < 10_000:
                    continue  # a small cross-reference may be read whole; a large one never
                on_identifiers = [n for n in nodes if n.get("Relation Name") == "patient_identifier"
                                  and n["Node Type"] != "ModifyTable"]
                assert on_identifiers, name
                for node in on_identifiers:
                    assert node["Node Type"] in ("Index Scan", "Index Only Scan"), (name, node["Node Type"])
                    cond = node.get("Index Cond", "")  # by the decision row, or by the chunk's array of values
                    assert "d." in cond or "ANY" in cond, (name, cond)
                patients = [n for n in nodes if n.get("Relation Name") == "patients"]
                assert all(n["Node Type"] in ("Index Scan", "Index Only Scan") for n in patients), name
        finally:
            tx.rollback()
