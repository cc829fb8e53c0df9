-- One batch of link_invites: for the next :batch_size planned invites (keyset on walk_key after
-- :last_key, up to the lane's :upper_key: the invites heap in block order, see pipeline/100_backfill.sql), finds the patient in patients by the plan's id, else by the identity key (so a patient
-- the application wrote meanwhile is matched, rule 8), sets invites.patient_id where it is still NULL (the only legacy
-- column touched, rule 9), records the links in the batch link ledger (rule 10, one row per batch) and advances the
-- checkpoint, all in this one statement/transaction.
-- Reads: backfill_plan_invites, backfill_plan_persons, patients. Writes: invites.patient_id,
-- backfill_link_ledger_batches, backfill_checkpoints.
-- Safe to re-run: only NULL links are written; a crashed batch rolls back with its checkpoint.
-- Cost: every join is an index probe per batch row (phases.py turns hash/merge joins off per batch),
-- each a LATERAL ... LIMIT 1 (a parameterized index scan whatever the statistics say), so a
-- batch costs the same at any table size.
WITH batch AS (
    SELECT pi.walk_key, pi.invite_id, pi.account_id, pi.email_key, pi.name_key, pp.patient_id AS planned_patient_id
    FROM patient_pipeline.backfill_plan_invites pi
    JOIN patient_pipeline.backfill_plan_persons pp ON pp.person_key = pi.person_key
    WHERE pi.disposition = 'link' AND pi.walk_key > CAST(:last_key AS text)
      AND pi.walk_key <= CAST(:upper_key AS text)
    ORDER BY pi.walk_key
    LIMIT CAST(:batch_size AS integer)
), resolved AS (
    -- the plan's id first (a primary-key probe); when no patient has it (the application wrote the
    -- person's patient first, rule 8), the identity key in the key form (rule 3): probed through
    -- ux_patients_identity_key (lower(btrim())) and confirmed in the key form, which finds every stored
    -- value that differs from its key only in case and spaces; else (a value stored with other noise: an
    -- NBSP, a zero-width space, a combining accent) the account's patients compared in the key form. Both
    -- probes run only for a row whose planned patient is missing (their first condition is a one-time
    -- filter), and the second only when the first found nothing.
    SELECT b.invite_id, coalesce(p.id, q.id, n.id) AS patient_id
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
    -- matched by primary key: the walk key only orders the walk (an invite the application updated
    -- since the plan may sit on another page now; it is found all the same)
    UPDATE invites i
    SET patient_id = r.patient_id
    FROM resolved r
    WHERE i.id = r.invite_id AND i.patient_id IS NULL
    RETURNING i.id, i.patient_id
), link_ledger AS (
    -- one ledger row per batch (ids as arrays, see pipeline/100_backfill.sql)
    INSERT INTO patient_pipeline.backfill_link_ledger_batches (run_id, entity, entity_ids, patient_ids)
    SELECT CAST(:run_id AS varchar), 'invite', array_agg(id ORDER BY id), array_agg(patient_id ORDER BY id)
    FROM upd HAVING count(*) > 0
), stats AS (
    SELECT (SELECT count(*) FROM batch) AS scanned, (SELECT max(walk_key) FROM batch) AS last_key,
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
