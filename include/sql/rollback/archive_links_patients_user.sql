-- Archive step, links: make this run's copy of patients.user_id (entity_id = the user, patient_id =
-- the patient linked to it) equal to the live column.
-- Reads: patients. Writes: patient_pipeline.archived_patient_links rows of (:run_id, 'user') only.
-- Safe to re-run: upsert keyed on (run_id, entity, entity_id) plus a prune of links no longer live, so
-- a rerun converges. Only called while patients.user_id exists (after the downgrade that drops it, the
-- archive keeps the last copy and is never pruned again).
WITH live AS (
    SELECT t.user_id AS entity_id, t.id AS patient_id
    FROM patients t
    WHERE t.user_id IS NOT NULL
), upserted AS (
    INSERT INTO patient_pipeline.archived_patient_links AS a (run_id, entity, entity_id, patient_id)
    SELECT CAST(:run_id AS varchar), 'user', entity_id, patient_id FROM live
    ON CONFLICT (run_id, entity, entity_id) DO UPDATE
    SET patient_id = EXCLUDED.patient_id, archived_at = now() AT TIME ZONE 'utc'
    WHERE a.patient_id IS DISTINCT FROM EXCLUDED.patient_id
    RETURNING 1
), pruned AS (
    DELETE FROM patient_pipeline.archived_patient_links a
    WHERE a.run_id = CAST(:run_id AS varchar) AND a.entity = 'user'
      AND NOT EXISTS (SELECT 1 FROM patients t WHERE t.user_id = a.entity_id)
    RETURNING 1
)
SELECT (SELECT count(*) FROM live) AS live_rows,
       (SELECT count(*) FROM upserted) AS written,
       (SELECT count(*) FROM pruned) AS pruned
