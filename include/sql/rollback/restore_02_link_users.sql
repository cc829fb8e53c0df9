-- Restore, patients.user_id: give each restored (or still present) patient of archive :archive_run_id
-- back the user it was linked to, when that user still exists, is linked to no other patient and the
-- patient has no user now. Records every link written in patient_pipeline.restored_links.
-- Reads: patient_pipeline.restored_patients, archived_patient_links, users, patients.
-- Writes: patients.user_id (NULL -> archived value only; updated_at untouched: this restores the
-- archived state), patient_pipeline.restored_links.
-- Safe to re-run: only NULL columns are filled, and a link already written is skipped.
WITH wanted AS (
    SELECT l.entity_id AS user_id, l.patient_id
    FROM patient_pipeline.archived_patient_links l
    JOIN patient_pipeline.restored_patients r
      ON r.archive_run_id = l.run_id AND r.patient_id = l.patient_id
     AND r.outcome IN ('restored', 'already_present')
    WHERE l.run_id = CAST(:archive_run_id AS varchar) AND l.entity = 'user'
      AND EXISTS (SELECT 1 FROM users u WHERE u.id = l.entity_id)
      AND NOT EXISTS (SELECT 1 FROM patients x WHERE x.user_id = l.entity_id)
), linked AS (
    UPDATE patients p SET user_id = w.user_id
    FROM wanted w
    WHERE p.id = w.patient_id AND p.user_id IS NULL
    RETURNING p.user_id, p.id
)
INSERT INTO patient_pipeline.restored_links (archive_run_id, entity, entity_id, patient_id, restore_run_id)
SELECT CAST(:archive_run_id AS varchar), 'user', user_id, id, CAST(:restore_run_id AS varchar) FROM linked
ON CONFLICT (archive_run_id, entity, entity_id) DO NOTHING
