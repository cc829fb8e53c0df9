"""The three backfill paths of BENCHMARKS.md, each timed on a database at 20250529_update_patients.

* :func:`ceiling_c1` - C1, the ceiling: one set-based ``INSERT ... SELECT`` into ``patients`` plus one
  ``UPDATE ... FROM`` of ``invites.patient_id`` over the whole table, in one transaction, no batching
  and no rule checks (it does comparable work, it does not satisfy every DATA-MODEL §4 rule).
* :func:`per_row_b0` - B0, the original approach: a per-row loop with one round trip per statement
  (select the patient by e-mail, insert it, update the invite) and a commit per invite.
* :func:`project_p` - P, the project's batched, resumable, gated backfill (``include.backfill.run_all``).

Each function consumes the database it runs on (it writes patients and links), so the harness runs
each path on its own copy of the same generated data (``CREATE DATABASE x TEMPLATE y``) and compares
rows/s ratios measured side by side. ``rows`` is always the number of invites the path processed.
Nothing here prints or logs row contents (PHI): counts and seconds only.
"""

from __future__ import annotations

import time
import uuid

import sqlalchemy as sa

from include.backfill import BackfillOptions, run_all

#: The identity key of C1: clinician's account, e-mail key, first-name key -> an md5-derived id.
_C1_KEYED_INVITES = """
    SELECT i.id AS invite_id, a.id AS account_id, i.clinician_id, btrim(i.email) AS email,
           btrim(i.first_name) AS first_name,
           coalesce(nullif(btrim(i.last_name), ''), '-') AS last_name, i.created_at,
           md5(coalesce(a.id, '') || chr(31) || lower(btrim(i.email)) || chr(31)
               || lower(btrim(i.first_name)))::uuid::text AS patient_id
    FROM invites i
    LEFT JOIN users c ON c.id = i.clinician_id
    LEFT JOIN accounts a ON a.id = c.account_id
    WHERE i.patient_id IS NULL AND btrim(i.email) <> ''
      AND btrim(coalesce(i.first_name, '')) <> ''
"""

C1_INSERT = f"""
INSERT INTO patients (id, account_id, clinician_id, email, first_name, last_name, status, created_at, updated_at)
SELECT DISTINCT ON (k.patient_id) k.patient_id, k.account_id, k.clinician_id, k.email, k.first_name,
       k.last_name, 'pending', now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc'
FROM ({_C1_KEYED_INVITES}) k
ORDER BY k.patient_id, k.created_at DESC
"""

C1_UPDATE = f"""
UPDATE invites i SET patient_id = k.patient_id
FROM ({_C1_KEYED_INVITES}) k
WHERE i.id = k.invite_id
"""


def ceiling_c1(conn: sa.Connection) -> tuple[int, float]:
    """C1: one INSERT ... SELECT + one UPDATE ... FROM over the whole invites table, one commit.

    Returns (invites processed, seconds).
    """
    if conn.in_transaction():
        conn.commit()
    rows = int(conn.execute(sa.text("SELECT count(*) FROM invites WHERE patient_id IS NULL")).scalar_one())
    conn.commit()
    started = time.perf_counter()
    conn.exec_driver_sql(C1_INSERT)
    conn.exec_driver_sql(C1_UPDATE)
    conn.commit()
    return rows, time.perf_counter() - started


_B0_NEXT_INVITES = sa.text("""
    SELECT i.id, i.email, i.first_name, i.last_name, i.clinician_id, a.id AS account_id
    FROM invites i
    LEFT JOIN users c ON c.id = i.clinician_id
    LEFT JOIN accounts a ON a.id = c.account_id
    WHERE i.patient_id IS NULL
    ORDER BY i.id
    LIMIT :limit
""")
_B0_FIND = sa.text("""
    SELECT id FROM patients
    WHERE account_id = :account_id AND lower(btrim(email)) = lower(btrim(:email))
      AND lower(btrim(first_name)) = lower(btrim(:first_name))
    LIMIT 1
""")
_B0_FIND_NO_ACCOUNT = sa.text("""
    SELECT id FROM patients
    WHERE account_id IS NULL AND lower(btrim(email)) = lower(btrim(:email))
      AND lower(btrim(first_name)) = lower(btrim(:first_name))
    LIMIT 1
""")
_B0_INSERT = sa.text("""
    INSERT INTO patients (id, account_id, clinician_id, email, first_name, last_name, status,
                          created_at, updated_at)
    VALUES (:id, :account_id, :clinician_id, btrim(:email), btrim(:first_name), :last_name, 'pending',
            now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc')
""")
_B0_LINK = sa.text("UPDATE invites SET patient_id = :patient_id WHERE id = :id")


def per_row_b0(conn: sa.Connection, limit: int) -> tuple[int, float]:
    """B0: the original per-row loop over at most ``limit`` unlinked invites (ordered by id).

    Per invite: select its patient by e-mail (and account, first name: the identity-key index), insert
    one when missing, update the invite, commit. Nameless invites are counted but skipped.
    Returns (invites processed, seconds).
    """
    if conn.in_transaction():
        conn.commit()
    started = time.perf_counter()
    invites = conn.execute(_B0_NEXT_INVITES, {"limit": int(limit)}).all()
    conn.commit()
    for inv in invites:
        if not (inv.email or "").strip() or not (inv.first_name or "").strip():
            continue
        find = _B0_FIND if inv.account_id is not None else _B0_FIND_NO_ACCOUNT
        patient_id = conn.execute(find, {"account_id": inv.account_id, "email": inv.email,
                                         "first_name": inv.first_name}).scalar()
        if patient_id is None:
            patient_id = str(uuid.uuid4())
            conn.execute(_B0_INSERT, {"id": patient_id, "account_id": inv.account_id,
                                      "clinician_id": inv.clinician_id, "email": inv.email,
                                      "first_name": inv.first_name,
                                      "last_name": (inv.last_name or "").strip() or "-"})
        conn.execute(_B0_LINK, {"patient_id": patient_id, "id": inv.id})
        conn.commit()
    return len(invites), time.perf_counter() - started


def project_p(conn: sa.Connection, batch_size: int) -> tuple[int, float]:
    """P: ``include.backfill.run_all`` (plan, batched phases, catch-up) with ``batch_size``.

    Returns (invites processed = invites the plan covered, seconds).
    """
    if conn.in_transaction():
        conn.commit()
    started = time.perf_counter()
    result = run_all(conn, BackfillOptions(run_id=f"bench-p-{batch_size}", batch_size=batch_size))
    seconds = time.perf_counter() - started
    rows = result.plan.invites_to_link + len(result.plan.quarantined_invite_ids)
    return rows, seconds
