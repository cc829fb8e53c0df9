-- Second step of undoing a backfill run (after undo_run.sql committed the unlinking in the same
-- transaction): delete the patients this run created that no invite or chat session references.
-- Reads: the run's patient ledger, invites, chat_sessions. Writes: patients, the run's ledgers.
-- Safe to re-run: ledger rows are deleted with the patients.
WITH created AS (
    SELECT patient_id FROM patient_pipeline.backfill_patient_ledger WHERE run_id = :run_id AND created_by_run
), deleted AS (
    DELETE FROM patients p USING created c
    WHERE p.id = c.patient_id
      AND NOT EXISTS (SELECT 1 FROM invites i WHERE i.patient_id = p.id)
      AND NOT EXISTS (SELECT 1 FROM chat_sessions s WHERE s.patient_id = p.id)
    RETURNING p.id
), forget_links AS (
    DELETE FROM patient_pipeline.backfill_link_ledger WHERE run_id = :run_id RETURNING 1
), forget_patients AS (
    DELETE FROM patient_pipeline.backfill_patient_ledger l USING deleted d
    WHERE l.run_id = :run_id AND l.patient_id = d.id RETURNING 1
)
SELECT (SELECT count(*) FROM deleted) AS patients_deleted,
       (SELECT count(*) FROM created) - (SELECT count(*) FROM deleted) AS patients_kept_referenced
