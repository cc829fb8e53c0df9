-- One batch of link_chat_sessions: for the next :batch_size planned chat sessions (keyset on walk_key
-- after :last_key, up to the lane's :upper_key: the sessions heap in block order; the UPDATE matches by id), sets chat_sessions.patient_id, where still NULL, to the patient of the
-- session's user (patients.user_id); records the links in the batch link ledger (rule 10, one row per batch) and
-- advances the checkpoint, in this one statement.
-- Reads: backfill_plan_chats, patients. Writes: chat_sessions.patient_id,
-- backfill_link_ledger_batches, backfill_checkpoints.
-- Safe to re-run: only NULL links are written; a crashed batch rolls back with its checkpoint.
-- Cost: every join is an index probe per batch row (phases.py turns hash/merge joins off per batch),
-- each a LATERAL ... LIMIT 1 (a parameterized index scan whatever the statistics say), so a
-- batch costs the same at any table size.
WITH batch AS (
    SELECT walk_key, chat_id, user_id
    FROM patient_pipeline.backfill_plan_chats
    WHERE walk_key > CAST(:last_key AS text) AND walk_key <= CAST(:upper_key AS text)
    ORDER BY walk_key
    LIMIT CAST(:batch_size AS integer)
), upd AS (
    UPDATE chat_sessions cs
    SET patient_id = p.id
    FROM batch b
    JOIN LATERAL (SELECT x.id FROM patients x WHERE x.user_id = b.user_id LIMIT 1) p ON true
    WHERE cs.id = b.chat_id AND cs.patient_id IS NULL
    RETURNING cs.id, cs.patient_id
), link_ledger AS (
    -- one ledger row per batch (ids as arrays, see pipeline/100_backfill.sql)
    INSERT INTO patient_pipeline.backfill_link_ledger_batches (run_id, entity, entity_ids, patient_ids)
    SELECT CAST(:run_id AS varchar), 'chat_session', array_agg(id ORDER BY id), array_agg(patient_id ORDER BY id)
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
