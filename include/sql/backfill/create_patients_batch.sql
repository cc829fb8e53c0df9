-- One batch of create_patients: inserts the next :batch_size planned persons (keyset on person_key
-- after :last_key, up to the lane's :upper_key) into patients, with the user the plan gave them (unless that user got a patient
-- meanwhile), records the inserted patients and the user links in the batch ledgers (rule 10, one
-- ledger row per batch), and advances the checkpoint, all in this one statement/transaction.
-- Reads: backfill_plan_persons, patients. Writes: patients, the two ledger batch tables, backfill_checkpoints.
-- Safe to re-run: ON CONFLICT DO NOTHING on the identity key, the id and the user (rule 8); a
-- crashed batch rolled back as a whole and its checkpoint with it.
-- Cost: every join is an index probe per batch row (phases.py turns hash/merge joins off per batch),
-- each a LATERAL ... LIMIT 1 (a parameterized index scan whatever the statistics say), so a
-- batch costs the same at any table size.
WITH batch AS (
    SELECT *
    FROM patient_pipeline.backfill_plan_persons
    WHERE disposition = 'create' AND person_key > CAST(:last_key AS text)
      AND person_key <= CAST(:upper_key AS text)
    ORDER BY person_key
    LIMIT CAST(:batch_size AS integer)
), ins AS (
    INSERT INTO patients (id, account_id, clinician_id, email, first_name, last_name, phone, date_of_birth,
                          status, user_id, created_at, updated_at)
    SELECT b.patient_id, b.account_id, b.clinician_id, b.email, b.first_name, b.last_name, b.phone,
           b.date_of_birth, b.status,
           CASE WHEN taken.id IS NULL THEN b.user_id END,
           now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc'
    FROM batch b
    -- the user got a patient meanwhile: insert the patient without it (a probe of uq_patients_user_id)
    LEFT JOIN LATERAL (SELECT x.id FROM patients x WHERE x.user_id = b.user_id LIMIT 1) taken ON true
    ORDER BY b.person_key
    ON CONFLICT DO NOTHING
    RETURNING id, user_id
), patient_ledger AS (
    -- one ledger row per batch (ids as arrays, see pipeline/100_backfill.sql)
    INSERT INTO patient_pipeline.backfill_patient_ledger_batches (run_id, patient_ids)
    SELECT CAST(:run_id AS varchar), array_agg(id ORDER BY id) FROM ins HAVING count(*) > 0
), link_ledger AS (
    INSERT INTO patient_pipeline.backfill_link_ledger_batches (run_id, entity, entity_ids, patient_ids)
    SELECT CAST(:run_id AS varchar), 'user', array_agg(user_id ORDER BY user_id), array_agg(id ORDER BY user_id)
    FROM ins WHERE user_id IS NOT NULL HAVING count(*) > 0
), stats AS (
    SELECT (SELECT count(*) FROM batch) AS scanned, (SELECT max(person_key) FROM batch) AS last_key,
           (SELECT count(*) FROM ins) AS written
), checkpoint AS (
    INSERT INTO patient_pipeline.backfill_checkpoints AS c (run_id, plan_id, phase, last_key, rows, batches, done)
    SELECT CAST(:run_id AS varchar), CAST(:plan_id AS bigint), CAST(:phase AS varchar), s.last_key, s.written, (s.scanned > 0)::int, s.scanned < CAST(:batch_size AS integer)
    FROM stats s
    ON CONFLICT (run_id, plan_id, phase) DO UPDATE
    SET last_key = coalesce(EXCLUDED.last_key, c.last_key), rows = c.rows + EXCLUDED.rows,
        batches = c.batches + EXCLUDED.batches, done = EXCLUDED.done, updated_at = now() AT TIME ZONE 'utc'
)
SELECT scanned, last_key, written FROM stats
