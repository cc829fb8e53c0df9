-- One batch of link_users: for the next :batch_size planned users (keyset on user id after
-- :last_key, up to the lane's :upper_key), finds their person's patient by the plan's id, else by the identity key, and sets patients.user_id where the
-- patient has none and the user is not linked elsewhere (patients.user_id is unique); records the
-- links in the batch link ledger (rule 10, one row per batch) and advances the checkpoint, in this one statement.
-- Most users were linked already when create_patients inserted their patient; this covers patients
-- that existed before (rule 8).
-- Reads: plan tables, patients. Writes: patients.user_id,
-- backfill_link_ledger_batches, backfill_checkpoints.
-- Safe to re-run: only NULL links are written; a crashed batch rolls back with its checkpoint.
-- Cost: every join is an index probe per batch row (phases.py turns hash/merge joins off per batch),
-- each a LATERAL ... LIMIT 1 (a parameterized index scan whatever the statistics say), so a
-- batch costs the same at any table size.
WITH batch AS (
    SELECT u.user_id, pp.account_id, pp.email_key, pp.name_key, pp.patient_id AS planned_patient_id
    FROM patient_pipeline.backfill_plan_users u
    JOIN patient_pipeline.backfill_plan_persons pp ON pp.person_key = u.person_key
    -- users create_patients links with their patient's insert are not walked (plan_11b)
    WHERE u.disposition = 'link' AND u.link_walk AND u.user_id > CAST(:last_key AS text)
      AND u.user_id <= CAST(:upper_key AS text)
    ORDER BY u.user_id
    LIMIT CAST(:batch_size AS integer)
), resolved AS (
    -- the plan's id first (a primary-key probe); when no patient has it (the application wrote the
    -- person's patient first, rule 8), the identity key in the key form (rule 3): probed through
    -- ux_patients_identity_key (lower(btrim())) and confirmed in the key form, which finds every stored
    -- value that differs from its key only in case and spaces; else (a value stored with other noise: an
    -- NBSP, a zero-width space, a combining accent) the account's patients compared in the key form. Both
    -- probes run only for a row whose planned patient is missing (their first condition is a one-time
    -- filter), and the second only when the first found nothing.
    SELECT b.user_id, coalesce(p.id, q.id, n.id) AS patient_id
    FROM batch b
    LEFT JOIN LATERAL (SELECT x.id FROM patients x WHERE x.id = b.planned_patient_id LIMIT 1) p ON true
    LEFT JOIN LATERAL (
        SELECT x.id FROM patients x
        WHERE p.id IS NULL AND x.email IS NOT NULL
          AND (x.account_id = b.account_id OR (b.account_id IS NULL AND x.account_id IS NULL))
          AND lower(btrim(x.email)) = b.email_key AND lower(btrim(x.first_name)) = b.name_key
          AND patient_pipeline.email_key(x.email) = b.email_key AND patient_pipeline.key_form(x.first_name) = b.name_key
        LIMIT 1
    ) q ON true
    LEFT JOIN LATERAL (
        SELECT x.id FROM patients x
        WHERE p.id IS NULL AND q.id IS NULL AND x.email IS NOT NULL
          AND (x.account_id = b.account_id OR (b.account_id IS NULL AND x.account_id IS NULL))
          AND patient_pipeline.email_key(x.email) = b.email_key AND patient_pipeline.key_form(x.first_name) = b.name_key
        ORDER BY x.user_id IS NULL, x.created_at, x.id
        LIMIT 1
    ) n ON true
    WHERE coalesce(p.id, q.id, n.id) IS NOT NULL
), upd AS (
    UPDATE patients p
    SET user_id = r.user_id
    FROM resolved r
    WHERE p.id = r.patient_id AND p.user_id IS NULL
      AND NOT EXISTS (SELECT 1 FROM patients x WHERE x.user_id = r.user_id)
    RETURNING p.id, p.user_id
), link_ledger AS (
    -- one ledger row per batch (ids as arrays, see pipeline/100_backfill.sql)
    INSERT INTO patient_pipeline.backfill_link_ledger_batches (run_id, entity, entity_ids, patient_ids)
    SELECT CAST(:run_id AS varchar), 'user', array_agg(user_id ORDER BY user_id), array_agg(id ORDER BY user_id)
    FROM upd HAVING count(*) > 0
), stats AS (
    SELECT (SELECT count(*) FROM batch) AS scanned, (SELECT max(user_id) FROM batch) AS last_key,
           (SELECT count(*) FROM upd) AS written
), checkpoint AS (
    INSERT INTO patient_pipeline.backfill_checkpoints AS c (run_id, plan_id, phase, last_key, rows, batches, done)
    SELECT CAST(:run_id AS varchar), CAST(:plan_id AS bigint), CAST(:phase AS varchar), s.last_key, s.written, (s.scanned > 0)::int, s.scanned < CAST(:batch_size AS integer)
    FROM stats s
    ON CONFLICT (run_id, plan_id, phase) DO UPDATE
    SET last_key = coalesce(EXCLUDED.last_key, c.last_key), rows = c.rows + EXCLUDED.rows,
        batches = c.batches + EXCLUDED.batches, done = EXCLUDED.done, updated_at = now() AT TIME ZONE 'utc'
)
SELECT scanned, last_key, written FROM stats
