-- Restore, invites.patient_id: link each invites row that an archived link of archive :archive_run_id
-- points at a restored (or still present) patient, when the row still exists and is unlinked.
-- (The patients restore_01 puts back have, by its definition, no archived invite link to a live invite,
-- so this normally writes nothing; it covers an archive whose invites reappeared since.)
-- Reads: patient_pipeline.restored_patients, archived_patient_links, invites.
-- Writes: invites.patient_id (NULL -> archived value only; no other column is touched, so the legacy
-- checksums stay equal), patient_pipeline.restored_links.
-- Safe to re-run: only NULL columns are filled, and a link already written is skipped.
WITH wanted AS (
    SELECT l.entity_id, l.patient_id
    FROM patient_pipeline.archived_patient_links l
    JOIN patient_pipeline.restored_patients r
      ON r.archive_run_id = l.run_id AND r.patient_id = l.patient_id
     AND r.outcome IN ('restored', 'already_present')
    WHERE l.run_id = CAST(:archive_run_id AS varchar) AND l.entity = 'invite'
), linked AS (
    UPDATE invites t SET patient_id = w.patient_id
    FROM wanted w
    WHERE t.id = w.entity_id AND t.patient_id IS NULL
    RETURNING t.id, t.patient_id
)
INSERT INTO patient_pipeline.restored_links (archive_run_id, entity, entity_id, patient_id, restore_run_id)
SELECT CAST(:archive_run_id AS varchar), 'invite', id, patient_id, CAST(:restore_run_id AS varchar) FROM linked
ON CONFLICT (archive_run_id, entity, entity_id) DO NOTHING
