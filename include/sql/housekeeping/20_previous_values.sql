-- Retention: clear the previous values (PHI) kept for undoing an import update once the undo window has
-- passed (:cutoff = now - undo window). A file with an open review item keeps them: the steward may still
-- decide to undo it. The change log row stays (patient id, fields, file: the audit); once cleared, the
-- file cannot be undone exactly and `undo_import` refuses it with reason no_previous_values.
-- Reads: import_review. Writes: import_change_log. Returns: cleared, kept_open_review.
-- Safe to re-run: cleared rows have previous_values NULL and are not matched again.
WITH open_files AS (
    SELECT DISTINCT r.file_id FROM patient_pipeline.import_review r WHERE r.resolved_at IS NULL
), cleared AS (
    UPDATE patient_pipeline.import_change_log c
       SET previous_values = NULL
     WHERE c.previous_values IS NOT NULL AND c.changed_at < :cutoff
       AND c.file_id NOT IN (SELECT file_id FROM open_files)
    RETURNING 1
)
SELECT (SELECT count(*) FROM cleared) AS cleared,
       (SELECT count(*) FROM patient_pipeline.import_change_log k
         WHERE k.previous_values IS NOT NULL AND k.changed_at < :cutoff
           AND k.file_id IN (SELECT file_id FROM open_files)) AS kept_open_review
