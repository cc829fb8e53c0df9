-- Archive step, links: make this run's copy of chat_sessions.patient_id (the patient each chat_sessions row is linked to) equal to the live column.
-- Reads: chat_sessions. Writes: patient_pipeline.archived_patient_links rows of (:run_id, 'chat_session') only.
-- Safe to re-run: upsert keyed on (run_id, entity, entity_id) plus a prune of links no longer live, so
-- a rerun converges. Only called while chat_sessions.patient_id exists (after the downgrade that drops it, the
-- archive keeps the last copy and is never pruned again).
WITH live AS (
    SELECT t.id AS entity_id, t.patient_id AS patient_id
    FROM chat_sessions t
    WHERE t.patient_id IS NOT NULL
), upserted AS (
    INSERT INTO patient_pipeline.archived_patient_links AS a (run_id, entity, entity_id, patient_id)
    SELECT CAST(:run_id AS varchar), 'chat_session', entity_id, patient_id FROM live
    ON CONFLICT (run_id, entity, entity_id) DO UPDATE
    SET patient_id = EXCLUDED.patient_id, archived_at = now() AT TIME ZONE 'utc'
    WHERE a.patient_id IS DISTINCT FROM EXCLUDED.patient_id
    RETURNING 1
), pruned AS (
    DELETE FROM patient_pipeline.archived_patient_links a
    WHERE a.run_id = CAST(:run_id AS varchar) AND a.entity = 'chat_session'
      AND NOT EXISTS (SELECT 1 FROM chat_sessions t WHERE t.id = a.entity_id AND t.patient_id IS NOT NULL)
    RETURNING 1
)
SELECT (SELECT count(*) FROM live) AS live_rows,
       (SELECT count(*) FROM upserted) AS written,
       (SELECT count(*) FROM pruned) AS pruned
