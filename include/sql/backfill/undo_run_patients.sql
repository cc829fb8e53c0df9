-- Second step of undoing a backfill run (after undo_run.sql unlinked, in the same transaction):
-- delete the patients this run created that no invite or chat session references.
-- Reads: the run's patient ledger, invites, chat_sessions. Writes: patients, the run's ledger batch
-- rows: its link ledger is forgotten; its patient ledger keeps only the patients that stay (still
-- referenced), rewritten as one batch row.
-- Safe to re-run: deleted patients leave the ledger with them; a second run deletes nothing more.
WITH created AS (
    SELECT patient_id FROM patient_pipeline.backfill_patient_ledger WHERE run_id = :run_id
), deleted AS (
    DELETE FROM patients p USING created c
    WHERE p.id = c.patient_id
      AND NOT EXISTS (SELECT 1 FROM invites i WHERE i.patient_id = p.id)
      AND NOT EXISTS (SELECT 1 FROM chat_sessions s WHERE s.patient_id = p.id)
    RETURNING p.id
), forget_links AS (
    DELETE FROM patient_pipeline.backfill_link_ledger_batches WHERE run_id = :run_id RETURNING 1
), forget_patients AS (
    DELETE FROM patient_pipeline.backfill_patient_ledger_batches WHERE run_id = :run_id RETURNING 1
), keep_patients AS (
    -- every statement of this WITH sees the same snapshot: the DELETE above does not see this row
    INSERT INTO patient_pipeline.backfill_patient_ledger_batches (run_id, patient_ids)
    SELECT CAST(:run_id AS varchar), array_agg(c.patient_id ORDER BY c.patient_id)
    FROM created c
    WHERE NOT EXISTS (SELECT 1 FROM deleted d WHERE d.id = c.patient_id)
    HAVING count(*) > 0
    RETURNING 1
)
SELECT (SELECT count(*) FROM deleted) AS patients_deleted,
       (SELECT count(*) FROM created) - (SELECT count(*) FROM deleted) AS patients_kept_referenced,
       (SELECT count(*) FROM forget_links) + (SELECT count(*) FROM forget_patients)
           + (SELECT count(*) FROM keep_patients) AS ledger_rows_rewritten
