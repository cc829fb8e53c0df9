"""The three backfill paths of BENCHMARKS.md, each timed on a database at 20250529_update_patients.

* :func:`ceiling_c1` - C1, the narrow ceiling: one set-based ``INSERT ... SELECT`` into ``patients`` plus
  one ``UPDATE ... FROM`` of ``invites.patient_id`` over the whole table, in one transaction, no batching
  and no rule checks (kept for continuity: it does less than the job, no users and no chat sessions).
* :func:`ceiling_c2` - C2, the full ceiling: every write the end state needs, each as one set-based
  statement, in one transaction, no batching, no checks, no ledgers: patients from the invites'
  identity keys (in the key form, as P), the invites' patients' users, patients of the invite-less
  patient users, ``invites.patient_id``, ``chat_sessions.patient_id``.
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
from include.core import pipeline_schema

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


#: C2's identity key of an invite: the key form of P (patient_pipeline.email_key / key_form, the person
#: key and the deterministic patient id of the plan), usable e-mail and first name only.
_C2_KEYED_INVITES = """
    SELECT i.id AS invite_id, i.clinician_id, i.created_at, a.id AS account_id,
           patient_pipeline.trim_noise(i.email) AS email, n.first_name,
           coalesce(patient_pipeline.bf_usable_name(i.last_name), '-') AS last_name,
           patient_pipeline.bf_patient_id(patient_pipeline.bf_person_key(
               a.id, patient_pipeline.email_key(i.email), patient_pipeline.key_form(n.first_name))) AS patient_id
    FROM invites i
    CROSS JOIN LATERAL (SELECT patient_pipeline.bf_usable_name(i.first_name) AS first_name OFFSET 0) n
    LEFT JOIN users c ON c.id = i.clinician_id
    LEFT JOIN accounts a ON a.id = c.account_id
    WHERE i.patient_id IS NULL AND patient_pipeline.email_key(i.email) <> '' AND n.first_name IS NOT NULL
"""

#: C2's identity key of a role-patient user: own account, else the clinician's; e-mail key; first name
#: of users.name without titles (as P's plan_03).
_C2_KEYED_USERS = """
    SELECT u.id AS user_id, u.clinician_id, patient_pipeline.trim_noise(u.email) AS email, n.first_name,
           coalesce(n.last_name, '-') AS last_name, coalesce(oa.id, ca.id) AS account_id,
           patient_pipeline.bf_patient_id(patient_pipeline.bf_person_key(
               coalesce(oa.id, ca.id), patient_pipeline.email_key(u.email),
               patient_pipeline.key_form(n.first_name))) AS patient_id
    FROM users u
    CROSS JOIN LATERAL (SELECT patient_pipeline.bf_strip_titles(u.name) AS full_name OFFSET 0) s
    CROSS JOIN LATERAL (SELECT patient_pipeline.bf_split_first(s.full_name) AS first_name,
                               patient_pipeline.bf_split_last(s.full_name) AS last_name OFFSET 0) n
    LEFT JOIN accounts oa ON oa.id = u.account_id
    LEFT JOIN users c ON c.id = u.clinician_id
    LEFT JOIN accounts ca ON ca.id = c.account_id
    WHERE patient_pipeline.key_form(u.role) = 'patient' AND patient_pipeline.email_key(u.email) <> ''
      AND n.first_name IS NOT NULL
"""

#: C2, in order, one statement each (all in one transaction).
C2_STATEMENTS = (
    # 1. one patient per identity key of the invites (the latest invite's attributes)
    f"""INSERT INTO patients (id, account_id, clinician_id, email, first_name, last_name, status, created_at,
                              updated_at)
        SELECT DISTINCT ON (k.patient_id) k.patient_id, k.account_id, k.clinician_id, k.email, k.first_name,
               k.last_name, 'pending', now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc'
        FROM ({_C2_KEYED_INVITES}) k
        ORDER BY k.patient_id, k.created_at DESC
        ON CONFLICT DO NOTHING""",
    # 2. patients.user_id: the user whose identity key is the patient's (the smallest user id per patient)
    f"""UPDATE patients p SET user_id = m.user_id
        FROM (SELECT DISTINCT ON (k.patient_id) k.patient_id, k.user_id FROM ({_C2_KEYED_USERS}) k
              ORDER BY k.patient_id, k.user_id) m
        WHERE p.id = m.patient_id AND p.user_id IS NULL""",
    # 3. a patient for every patient user that is still without one
    f"""INSERT INTO patients (id, account_id, clinician_id, email, first_name, last_name, status, user_id,
                              created_at, updated_at)
        SELECT DISTINCT ON (k.patient_id) k.patient_id, k.account_id, k.clinician_id, k.email, k.first_name,
               k.last_name, 'active', k.user_id, now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc'
        FROM ({_C2_KEYED_USERS}) k
        WHERE NOT EXISTS (SELECT 1 FROM patients p WHERE p.user_id = k.user_id)
        ORDER BY k.patient_id, k.user_id
        ON CONFLICT DO NOTHING""",
    # 4. invites.patient_id (only to a patient that exists: the NOT VALID foreign key checks new values)
    f"""UPDATE invites i SET patient_id = k.patient_id
        FROM ({_C2_KEYED_INVITES}) k
        WHERE i.id = k.invite_id AND EXISTS (SELECT 1 FROM patients p WHERE p.id = k.patient_id)""",
    # 5. chat_sessions.patient_id: the patient of the session's user
    """UPDATE chat_sessions cs SET patient_id = p.id
       FROM patients p
       WHERE p.user_id = cs.user_id AND cs.patient_id IS NULL""",
)


def ceiling_c2(conn: sa.Connection) -> tuple[int, float]:
    """C2: the five statements of :data:`C2_STATEMENTS` in one transaction, one commit.

    The key form's functions (``patient_pipeline``) are created before the clock starts (P creates them
    in its timed preflight, which costs a few ms). Returns (invites processed, seconds).
    """
    if conn.in_transaction():
        conn.commit()
    pipeline_schema.ensure(conn)
    rows = int(conn.execute(sa.text("SELECT count(*) FROM invites WHERE patient_id IS NULL")).scalar_one())
    conn.commit()
    started = time.perf_counter()
    conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")  # as P's plan: its sorts and hashes stay in memory
    for statement in C2_STATEMENTS:
        conn.exec_driver_sql(statement)
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


def project_p(conn: sa.Connection, batch_size: int, throttle_factor: float = 0.0) -> tuple[int, float]:
    """P: ``include.backfill.run_all`` (plan, batched phases, catch-up) with ``batch_size``, its default
    lanes and, when ``throttle_factor`` is set, the commit-latency throttle.

    Returns (invites processed = invites the plan covered, seconds).
    """
    if conn.in_transaction():
        conn.commit()
    started = time.perf_counter()
    result = run_all(conn, BackfillOptions(run_id=f"bench-p-{batch_size}", batch_size=batch_size,
                                           throttle_factor=throttle_factor))
    seconds = time.perf_counter() - started
    rows = result.plan.invites_to_link + len(result.plan.quarantined_invite_ids)
    return rows, seconds
