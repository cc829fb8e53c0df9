-- Which of these import files (:file_ids) still have open quarantine rows: their quarantine exports in the
-- runs root are kept past their age (the clinic and the steward still work from them).
-- Reads: import_quarantine. Writes: nothing. Safe to re-run: read-only.
SELECT DISTINCT q.file_id
FROM patient_pipeline.import_quarantine q
WHERE q.resolved_at IS NULL AND q.file_id = ANY(CAST(:file_ids AS bigint[]))
